"""aretry, AsyncTimer and AsyncEventHook."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from core.helpers import KeyKind

from asynq import asynq, tools
from asynq.tools import AsyncEventHook, AsyncTimer, aretry

Gen = Generator[Any, Any, Any]


@pytest.fixture
def kv() -> KeyKind:
    return KeyKind("kv")


# -- aretry --------------------------------------------------------------------------------------


def test_aretry_retries_until_an_attempt_succeeds(kv: KeyKind) -> None:
    attempts: list[int] = []

    @aretry(ConnectionError, max_tries=4, sleep=0)
    @asynq()
    def flaky(key: str) -> Gen:
        attempts.append(len(attempts) + 1)
        value = yield kv.get(key)
        if len(attempts) < 3:
            raise ConnectionError(f"attempt {len(attempts)}")
        return value

    assert flaky("k") == ("value", "k")
    assert attempts == [1, 2, 3]
    assert kv.flushes == [["k"], ["k"], ["k"]]


def test_aretry_raises_the_last_error_after_max_tries() -> None:
    attempts: list[int] = []

    @aretry((KeyError, ConnectionError), max_tries=3, sleep=0)
    @asynq()
    def always_down() -> None:
        attempts.append(1)
        raise ConnectionError(f"attempt {len(attempts)}")

    with pytest.raises(ConnectionError, match="attempt 3"):
        always_down()
    assert attempts == [1, 1, 1]


def test_aretry_does_not_retry_other_exceptions() -> None:
    attempts: list[int] = []

    @aretry(ConnectionError, max_tries=5, sleep=0)
    @asynq()
    def broken() -> None:
        attempts.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        broken()
    assert attempts == [1]


def test_aretry_wraps_a_plain_function_too() -> None:
    attempts: list[int] = []

    @aretry(OSError, max_tries=2, sleep=0)
    def plain(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise OSError("once")
        return x * 2

    assert plain(4) == 8
    assert attempts == [4, 4]

    @asynq()
    def caller() -> Gen:
        return (yield plain.asynq(5))

    assert caller() == 10


def test_aretry_sleeps_between_attempts_and_not_after_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(tools.time, "sleep", sleeps.append)

    @aretry(ConnectionError, max_tries=3, sleep=0.25)
    @asynq()
    def down() -> None:
        raise ConnectionError

    with pytest.raises(ConnectionError):
        down()
    assert sleeps == [0.25, 0.25]


# -- AsyncTimer ----------------------------------------------------------------------------------


class FakeClock:
    """A nanosecond clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def advance_ms(self, ms: int) -> None:
        self.now += ms * 1_000_000


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(tools, "_clock_ns", fake)
    return fake


def test_async_timer_counts_only_the_time_its_task_is_active(clock: FakeClock, kv: KeyKind) -> None:
    @asynq()
    def timed() -> Gen:
        with AsyncTimer() as timer:
            clock.advance_ms(3)  # work in the block
            yield kv.get("a")  # switched out: the sibling runs, the batch flushes
            clock.advance_ms(4)
        return timer.total_time

    @asynq()
    def sibling() -> Gen:
        clock.advance_ms(50)
        yield kv.get("b")
        clock.advance_ms(50)

    @asynq()
    def both() -> Gen:
        return (yield timed.asynq(), sibling.asynq())

    elapsed, _ = both()
    assert elapsed == 7_000  # microseconds: 3 ms + 4 ms, none of the sibling's 100 ms


def test_async_timer_includes_the_tasks_created_in_its_block(clock: FakeClock) -> None:
    @asynq()
    def child() -> None:
        clock.advance_ms(2)

    @asynq()
    def parent() -> Gen:
        with AsyncTimer() as timer:
            clock.advance_ms(1)
            yield child.asynq()
        return timer.total_time

    assert parent() == 3_000


def test_async_timer_works_as_a_plain_context_manager_outside_tasks(clock: FakeClock) -> None:
    timer = AsyncTimer()
    assert timer.total_time == 0
    with timer:
        clock.advance_ms(5)
    clock.advance_ms(100)
    assert timer.total_time == 5_000


# -- AsyncEventHook ------------------------------------------------------------------------------


def test_trigger_calls_every_handler_and_batches_the_asynq_ones(kv: KeyKind) -> None:
    log: list[Any] = []

    @asynq()
    def load(x: int) -> Gen:
        value = yield kv.get(("load", x))
        log.append(("load", value))

    @asynq()
    def index(x: int) -> Gen:
        yield kv.get(("index", x))
        log.append(("index", x))

    hook = AsyncEventHook([load, lambda x: log.append(("plain", x))])
    hook.subscribe(index)
    assert hook.trigger(1) is None
    assert sorted(log) == [("index", 1), ("load", ("value", ("load", 1))), ("plain", 1)]
    assert kv.flushes == [[("load", 1), ("index", 1)]]


def test_triggers_of_two_hooks_in_sibling_tasks_share_a_round(kv: KeyKind) -> None:
    @asynq()
    def handler(x: int) -> Gen:
        yield kv.get(x)

    first, second = AsyncEventHook([handler]), AsyncEventHook([handler])

    @asynq()
    def both() -> Gen:
        yield first.trigger.asynq(1), second.trigger.asynq(2)

    both()
    assert kv.flushes == [[1, 2]]


@pytest.mark.parametrize("method", ["trigger", "safe_trigger"])
def test_every_handler_runs_and_the_first_failure_in_subscription_order_is_raised(
    method: str,
) -> None:
    log: list[str] = []

    @asynq()
    def fails_async(x: int) -> None:
        log.append("async")
        raise ValueError("async handler")

    def fails_plain(x: int) -> None:
        log.append("plain fails")
        raise KeyError("plain handler")

    hook = AsyncEventHook([fails_async, fails_plain, lambda x: log.append("plain ok")])
    with pytest.raises(ValueError, match="async handler"):
        getattr(hook, method)(1)
    assert sorted(log) == ["async", "plain fails", "plain ok"]


def test_a_hook_without_handlers_and_unsubscribe() -> None:
    log: list[int] = []

    def handler(x: int) -> None:
        log.append(x)

    hook = AsyncEventHook()
    assert hook.trigger(1) is None
    hook.subscribe(handler)
    hook.trigger(2)
    hook.unsubscribe(handler)
    hook.safe_trigger(3)
    hook(4)  # qcore's plain call
    assert log == [2]

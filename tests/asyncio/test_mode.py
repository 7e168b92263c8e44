"""Asyncio mode is per asyncio task; contexts and scoped values follow asynq tasks under asyncio;
asynq code run from asyncio can wait for native awaitables without blocking the loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Generator
from typing import Any

import pytest

import asynq
from asynq import AsyncContext, AsyncScopedValue
from asynq.asyncio_interop import from_awaitable, is_asyncio_mode
from asynq.memcache import MemcachedServer
from asynq.tools import aretry


def test_asyncio_mode_is_on_only_in_asynq_code_run_for_an_await_of_dot_asyncio() -> None:
    seen: dict[str, bool] = {}

    @asynq.asynq()
    def probe() -> bool:
        thread = threading.Thread(
            target=lambda: seen.__setitem__("other thread", is_asyncio_mode())
        )
        thread.start()
        thread.join()
        seen["asynq code"] = is_asyncio_mode()
        return True

    async def bystander() -> None:
        await asyncio.sleep(0)
        seen["other asyncio task"] = is_asyncio_mode()

    async def main() -> None:
        seen["awaiting coroutine, before"] = is_asyncio_mode()
        other = asyncio.create_task(bystander())
        await probe.asyncio()
        seen["awaiting coroutine, after"] = is_asyncio_mode()
        await other

    asyncio.run(main())
    seen["outside asyncio"] = is_asyncio_mode()

    assert seen == {
        "awaiting coroutine, before": False,
        "other thread": False,
        "asynq code": True,
        "other asyncio task": False,
        "awaiting coroutine, after": False,
        "outside asyncio": False,
    }
    assert asynq.tools.is_asyncio_mode is is_asyncio_mode


def test_asynq_code_does_not_see_the_context_variables_of_the_awaiting_coroutine() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")

    @asynq.asynq()
    def read_request_id() -> str:
        return request_id.get()

    async def handler(rid: str) -> str:
        request_id.set(rid)
        value: str = await read_request_id.asyncio()
        return value

    async def main() -> list[str]:
        return await asyncio.gather(handler("a"), handler("b"))

    # asynq code of all coroutines runs in the driver's own context: pass such values as arguments
    assert asyncio.run(main()) == ["none", "none"]


def test_a_synchronous_call_in_a_coroutine_outside_asyncio_mode_works_while_a_flush_is_in_flight(
    memcached: MemcachedServer, multi_gets: Any, sync_call_hook: None
) -> None:
    memcached.flush_all()
    reads = multi_gets(delay=0.1)
    reads.seed({"a": 1, "b": 2})

    @asynq.asynq()
    def fetch(key: str) -> Generator[Any, Any, int]:
        return (yield reads.get(key))

    async def blocking_caller() -> int:
        while not reads.rounds:  # until the driver's multi-get of "a" is in flight
            await asyncio.sleep(0.001)
        value: int = fetch("b")  # legacy code: blocks the loop, like asynq 1.6
        return value

    async def main() -> list[int]:
        return await asyncio.gather(fetch.asyncio("a"), blocking_caller())

    assert asyncio.run(main()) == [1, 2]
    assert reads.rounds == [["a"], ["b"]]
    # the synchronous call waited for the flush thread, then flushed on the loop's own thread
    assert reads.flush_threads[0].startswith("asynq-flush")
    assert reads.flush_threads[1] == threading.current_thread().name


def test_a_scoped_value_overridden_in_one_awaited_call_is_invisible_to_another_in_the_same_rounds(
    blog: Any,
) -> None:
    level: AsyncScopedValue[str] = AsyncScopedValue("default")
    seen: dict[str, str] = {}

    @asynq.asynq()
    def record(label: str) -> Generator[Any, Any, str]:
        name = yield blog.name_of.asynq(1)
        seen[label] = level()
        return name  # type: ignore[no-any-return]

    @asynq.asynq()
    def overriding() -> Generator[Any, Any, tuple[str, str]]:
        with level.override("overridden"):
            yield record.asynq("child of the override")
            inside = level()
        return inside, level()

    async def main() -> list[Any]:
        return await asyncio.gather(overriding.asyncio(), record.asyncio("other call"))

    inside_and_after, name = asyncio.run(main())

    assert inside_and_after == ("overridden", "default")
    assert name == "user1"
    assert seen == {"child of the override": "overridden", "other call": "default"}
    assert level() == "default"
    assert blog.reads.rounds == [["user:1"]]


def test_an_async_context_is_paused_while_other_awaited_calls_run(blog: Any) -> None:
    state = {"active": False}
    observed: list[tuple[str, bool]] = []

    class Active(AsyncContext):
        def resume(self) -> None:
            state["active"] = True

        def pause(self) -> None:
            state["active"] = False

    @asynq.asynq()
    def inside(uid: int) -> Generator[Any, Any, None]:
        with Active():
            observed.append(("inside, before", state["active"]))
            yield blog.name_of.asynq(uid)
            observed.append(("inside, after", state["active"]))

    @asynq.asynq()
    def outside(uid: int) -> Generator[Any, Any, None]:
        observed.append(("outside, before", state["active"]))
        yield blog.name_of.asynq(uid)
        observed.append(("outside, after", state["active"]))

    async def main() -> None:
        await asyncio.gather(inside.asyncio(1), outside.asyncio(2))

    asyncio.run(main())

    assert sorted(observed) == [
        ("inside, after", True),
        ("inside, before", True),
        ("outside, after", False),
        ("outside, before", False),
    ]
    assert state["active"] is False
    assert blog.reads.rounds == [["user:1", "user:2"]]


def test_asynq_code_can_wait_for_a_native_awaitable_and_still_batch(blog: Any) -> None:
    modes: list[bool] = []

    async def native_score(uid: int) -> int:
        modes.append(is_asyncio_mode())
        await asyncio.sleep(0.01)
        return uid * 10

    @asynq.asynq()
    def profile(uid: int) -> Generator[Any, Any, tuple[int, str]]:
        score, name = yield from_awaitable(native_score(uid)), blog.name_of.asynq(uid)
        return score, name

    async def main() -> list[tuple[int, str]]:
        return await asyncio.gather(profile.asyncio(1), profile.asyncio(2))

    assert asyncio.run(main()) == [(10, "user1"), (20, "user2")]
    assert modes == [False, False]  # native code is not asynq code
    assert blog.reads.rounds == [["user:1", "user:2"]]


def test_the_error_of_a_native_awaitable_is_thrown_at_the_asynq_yield() -> None:
    async def failing() -> None:
        await asyncio.sleep(0)
        raise LookupError("no such profile")

    @asynq.asynq()
    def guarded() -> Generator[Any, Any, str]:
        try:
            yield from_awaitable(failing())
        except LookupError as error:
            return f"recovered from {error}"
        return "no error"

    async def main() -> str:
        value: str = await guarded.asyncio()
        return value

    assert asyncio.run(main()) == "recovered from no such profile"


def test_aretry_pauses_with_asyncio_sleep_in_asyncio_mode_so_the_loop_keeps_running() -> None:
    flag = {"set": False}
    attempts: list[bool] = []

    @aretry(ConnectionError, max_tries=3, sleep=0.02)
    @asynq.asynq()
    def flaky() -> str:
        attempts.append(flag["set"])
        if not attempts[1:]:
            # Runs only if the event loop turns before the next attempt.
            asyncio.get_running_loop().call_soon(flag.__setitem__, "set", True)
        if not flag["set"]:
            raise ConnectionError("not yet")
        return "connected"

    async def main() -> str:
        value: str = await flaky.asyncio()
        return value

    assert asyncio.run(main()) == "connected"
    assert attempts == [False, True]


def test_asynq_code_may_use_the_running_loop_and_a_flush_error_reaches_only_its_callers(
    memcached: MemcachedServer, multi_gets: Any
) -> None:
    memcached.flush_all()
    reads = multi_gets()
    reads.seed({"ok": "fine"})
    broken = multi_gets()
    broken.client.close()
    broken.client.server = ("127.0.0.1", 1)  # nothing listens there: the multi-get fails

    @asynq.asynq()
    def fetch(reader: Any, key: str) -> Generator[Any, Any, str]:
        return (yield reader.get(key))

    async def main() -> list[Any]:
        return await asyncio.gather(
            fetch.asyncio(reads, "ok"), fetch.asyncio(broken, "ok"), return_exceptions=True
        )

    good, bad = asyncio.run(main())

    assert good == "fine"
    assert isinstance(bad, ConnectionRefusedError)
    assert reads.rounds == [["ok"]] and broken.rounds == [["ok"]]


@pytest.mark.parametrize("fail", [False, True])
def test_a_sync_call_of_an_asynq_function_after_asyncio_run_starts_clean(
    blog: Any, fail: bool
) -> None:
    async def main() -> Any:
        return await blog.name_of.asyncio(999 if fail else 4)

    try:
        asyncio.run(main())
    except TypeError:
        assert fail
    assert blog.name_of(5) == "user5"  # synchronous, after the loop is gone


def test_event_loops_in_two_threads_each_batch_their_own_work() -> None:
    from asynq.loaders import loader

    calls: list[tuple[str, list[int]]] = []
    lock = threading.Lock()

    @loader()
    def double(numbers: list[int]) -> list[int]:
        with lock:
            calls.append((threading.current_thread().name, sorted(numbers)))
        return [n * 2 for n in numbers]

    @asynq.asynq()
    def doubled_sum(numbers: list[int]) -> Generator[Any, Any, int]:
        assert is_asyncio_mode()
        return sum((yield [double.asynq(n) for n in numbers]))

    results: dict[str, Any] = {}

    def serve(name: str, base: int) -> None:
        async def main() -> list[int]:
            return await asyncio.gather(
                *[doubled_sum.asyncio([base + i, base + i + 1]) for i in range(3)]
            )

        results[name] = asyncio.run(main())

    threads = [
        threading.Thread(target=serve, args=(name, base), name=name)
        for name, base in (("loop-a", 0), ("loop-b", 100))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {"loop-a": [2, 6, 10], "loop-b": [402, 406, 410]}
    by_keys = sorted(keys for _, keys in calls)
    assert by_keys == [[0, 1, 2, 3], [100, 101, 102, 103]]  # one call per loop, not mixed
    assert all(name.startswith("asynq-flush") for name, _ in calls)


def test_a_sync_call_check_installed_before_a_loop_keeps_running_and_is_put_back_after() -> None:
    from asynq import lowlevel

    @asynq.asynq()
    def leaf(x: int) -> int:
        return x * 2

    @asynq.asynq()
    def calls_leaf_from_another_thread() -> int:
        # a thread outside asyncio mode may call synchronously while the loop drives this task
        thread = threading.Thread(target=leaf, args=(3,))
        thread.start()
        thread.join()
        value = yield leaf.asynq(4)
        return value

    seen: list[object] = []

    def check(fn: object) -> None:
        seen.append(fn)

    previous = lowlevel.set_sync_call_check(check)
    try:
        assert asyncio.run(calls_leaf_from_another_thread.asyncio()) == 8
        assert seen == [leaf]  # called during the loop, after the bridge's own check
        assert lowlevel.set_sync_call_check(check) is check  # and installed again after it
    finally:
        lowlevel.set_sync_call_check(previous)

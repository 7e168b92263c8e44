"""The scheduler: laziness, yield shapes, errors, depth, re-entrancy and threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import asynq
from asynq import (
    AsyncTask,
    AsyncTaskError,
    ConstFuture,
    ErrorFuture,
    Future,
    FutureBase,
    get_active_task,
    get_scheduler,
    result,
)
from asynq.scheduler import AsyncqInternalError
from core.helpers import KeyKind


@asynq.asynq()
def double(x: int) -> Any:
    return x * 2


@asynq.asynq()
def double_later(x: int) -> Any:
    yield None
    return x * 2


def test_creating_a_task_runs_nothing() -> None:
    ran = []

    @asynq.asynq()
    def body() -> Any:
        ran.append("generator")
        yield None

    @asynq.asynq()
    def plain() -> int:
        ran.append("plain")
        return 1

    body_task = body.asynq()
    plain_task = plain.asynq()
    assert ran == []
    assert not body_task.is_computed()
    assert plain_task.value() == 1
    assert ran == ["plain"]


def test_a_task_that_is_never_yielded_never_runs() -> None:
    ran = []

    @asynq.asynq()
    def child() -> int:
        ran.append("child")
        return 1

    @asynq.asynq()
    def parent() -> Any:
        child.asynq()  # created, not yielded
        yield None
        return "parent"

    assert parent() == "parent"
    assert ran == []


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: None, None),
        (lambda: double.asynq(1), 2),
        (lambda: [double.asynq(1), double.asynq(2)], [2, 4]),
        (lambda: (double.asynq(1), double_later.asynq(2)), (2, 4)),
        (lambda: {"a": double.asynq(1), 7: double_later.asynq(3)}, {"a": 2, 7: 6}),
        (lambda: [], []),
        (lambda: (), ()),
        (lambda: {}, {}),
        (lambda: [None, double.asynq(5), None], [None, 10, None]),
        (
            lambda: {"x": [double.asynq(1), (double_later.asynq(2), {"y": double.asynq(3)})]},
            {"x": [2, (4, {"y": 6})]},
        ),
        (lambda: [[[[double.asynq(4)]]]], [[[[8]]]]),
        (lambda: ConstFuture("c"), "c"),
        (lambda: [Future(lambda: "lazy"), ConstFuture(1)], ["lazy", 1]),
        (lambda: [ConstFuture(1), ConstFuture(2)], [1, 2]),
        (lambda: (ConstFuture(1), double_later.asynq(2), ConstFuture(3)), (1, 4, 3)),
        (lambda: [ConstFuture(1), double.asynq(2), Future(lambda: "lazy")], [1, 4, "lazy"]),
        (lambda: (ConstFuture(1), ConstFuture(2)), (1, 2)),
        (lambda: [ConstFuture(1), [ConstFuture(2)], None], [1, [2], None]),
    ],
    ids=[
        "none",
        "task",
        "list",
        "tuple",
        "dict",
        "empty list",
        "empty tuple",
        "empty dict",
        "list with none",
        "nested",
        "deeply nested",
        "const future",
        "value provider",
        "const futures",
        "const futures and a task",
        "const future before a value provider",
        "tuple of const futures",
        "const futures around a nested list",
    ],
)
def test_a_yield_is_answered_in_the_shape_it_was_asked(make: Any, expected: Any) -> None:
    @asynq.asynq()
    def ask() -> Any:
        return (yield make())

    value = ask()
    assert value == expected
    assert type(value) is type(expected)


def test_a_dependency_error_is_thrown_at_the_yield() -> None:
    @asynq.asynq()
    def fails() -> Any:
        yield None
        raise KeyError("missing")

    @asynq.asynq()
    def catches() -> Any:
        try:
            yield fails.asynq()
        except KeyError as error:
            return f"caught {error}"

    assert catches() == "caught 'missing'"


def test_siblings_of_a_failing_dependency_still_complete() -> None:
    finished = []

    @asynq.asynq()
    def fails() -> Any:
        yield None
        raise ValueError("first")

    @asynq.asynq()
    def slow_sibling() -> Any:
        yield None
        yield None
        finished.append("sibling")
        return 1

    @asynq.asynq()
    def parent() -> Any:
        yield [fails.asynq(), slow_sibling.asynq()]

    with pytest.raises(ValueError, match="first"):
        parent()
    assert finished == ["sibling"]


def test_an_error_reaches_every_dependent() -> None:
    @asynq.asynq()
    def fails() -> Any:
        yield None
        raise ValueError("shared")

    shared = fails.asynq()

    @asynq.asynq()
    def dependent(name: str) -> Any:
        try:
            yield shared
        except ValueError:
            return f"{name} saw it"

    @asynq.asynq()
    def both() -> Any:
        return (yield [dependent.asynq("a"), dependent.asynq("b")])

    assert both() == ["a saw it", "b saw it"]


def test_the_first_error_in_yield_order_wins_when_several_fail() -> None:
    @asynq.asynq()
    def fails(message: str) -> Any:
        yield None
        raise ValueError(message)

    @asynq.asynq()
    def parent() -> Any:
        yield [double.asynq(1), fails.asynq("one"), fails.asynq("two")]

    with pytest.raises(ValueError, match="one"):
        parent()


def test_a_task_shared_by_many_parents_is_computed_once() -> None:
    runs = []

    @asynq.asynq()
    def expensive() -> Any:
        runs.append(1)
        yield None
        return "v"

    shared = expensive.asynq()

    @asynq.asynq()
    def parent() -> Any:
        return (yield [shared, shared, (shared,)])

    assert parent() == ["v", "v", ("v",)]
    assert shared.value() == "v"
    assert runs == [1]


def test_a_chain_of_100000_dependent_tasks_completes() -> None:
    @asynq.asynq()
    def chain(n: int) -> Any:
        if n == 0:
            return 0
        below = yield chain.asynq(n - 1)
        return below + 1

    assert chain(100_000) == 100_000


def test_an_error_at_the_bottom_of_a_deep_chain_reaches_the_top() -> None:
    @asynq.asynq()
    def chain(n: int) -> Any:
        if n == 0:
            raise LookupError("bottom")
        return (yield chain.asynq(n - 1))

    with pytest.raises(LookupError, match="bottom"):
        chain(20_000)


def test_legacy_result_returns_a_value_from_a_generator() -> None:
    @asynq.asynq()
    def legacy() -> Any:
        value = yield double.asynq(4)
        result(value + 1)
        yield None  # never reached

    assert legacy() == 9


def test_a_plain_function_that_returns_a_generator_is_driven_as_a_task() -> None:
    def generator_body() -> Any:
        value = yield double.asynq(10)
        return value + 1

    @asynq.asynq()
    def wrapper() -> Any:
        return generator_body()

    assert wrapper() == 21
    assert wrapper.asynq().value() == 21


def test_get_active_task_is_the_running_task_and_none_outside() -> None:
    seen = []

    @asynq.asynq()
    def who() -> Any:
        seen.append(get_active_task())
        yield None
        seen.append(get_active_task())

    task = who.asynq()
    task.value()
    assert seen == [task, task]
    assert get_active_task() is None


def test_a_task_knows_what_created_it() -> None:
    children: list[AsyncTask[Any]] = []

    @asynq.asynq()
    def parent() -> Any:
        child = double.asynq(1)
        children.append(child)
        yield child

    task = parent.asynq()
    task.value()
    assert children[0].creator is task
    assert task.creator is None


def test_a_synchronous_call_inside_a_task_works_and_is_counted_as_impure() -> None:
    @asynq.asynq()
    def impure() -> Any:
        yield None
        return double(3) + double_later(1)

    assert impure() == 8
    assert get_scheduler().stats.impure_calls == 2


def test_a_synchronous_value_inside_a_task_runs_other_ready_tasks_too() -> None:
    order = []

    @asynq.asynq()
    def note(name: str) -> Any:
        order.append(name)
        yield None
        return name

    @asynq.asynq()
    def parent() -> Any:
        first = note.asynq("sibling")
        yield None
        nested = note.asynq("nested").value()
        return nested, (yield first)

    assert parent() == ("nested", "sibling")
    assert sorted(order) == ["nested", "sibling"]


def test_a_task_that_asks_for_its_own_value_gets_a_clear_error() -> None:
    holder: list[AsyncTask[Any]] = []

    @asynq.asynq()
    def selfish() -> Any:
        yield None
        return holder[0].value()

    holder.append(selfish.asynq())
    with pytest.raises(AsyncTaskError, match="asked for its own value while running"):
        holder[0].value()
    assert double(2) == 4  # the scheduler is usable afterwards


def test_tasks_waiting_on_each_other_in_a_cycle_fail_clearly_and_leave_a_clean_scheduler() -> None:
    tasks: dict[str, AsyncTask[Any]] = {}

    @asynq.asynq()
    def node(name: str, other: str) -> Any:
        yield None
        return (yield tasks[other])

    tasks["a"] = node.asynq("a", "b")
    tasks["b"] = node.asynq("b", "a")
    with pytest.raises(AsyncTaskError, match="can never be computed"):
        tasks["a"].value()
    assert get_scheduler()._ready == type(get_scheduler()._ready)()
    assert double(5) == 10


def test_a_future_nothing_will_set_cannot_be_waited_for() -> None:
    orphan: FutureBase[int] = FutureBase()
    with pytest.raises(AsyncTaskError, match="only external code sets"):
        orphan.value()


def test_keyboard_interrupt_in_a_task_reaches_the_caller() -> None:
    @asynq.asynq()
    def interrupted() -> Any:
        yield None
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert double(1) == 2


def test_a_task_yielding_error_futures_gets_the_error() -> None:
    @asynq.asynq()
    def parent() -> Any:
        try:
            yield [ConstFuture(1), ErrorFuture(OSError("disk"))]
        except OSError as error:
            return str(error)

    assert parent() == "disk"


def test_a_list_of_const_futures_and_a_finished_failed_task_gets_the_tasks_error() -> None:
    @asynq.asynq()
    def fails() -> Any:
        raise KeyError("gone")

    failed = fails.asynq()
    with pytest.raises(KeyError):
        failed.value()

    @asynq.asynq()
    def parent() -> Any:
        try:
            yield [ConstFuture(1), failed, ConstFuture(3)]
        except KeyError as error:
            return repr(error)

    assert parent() == "KeyError('gone')"


def test_a_const_future_someone_subscribed_to_is_still_read_in_a_yielded_list() -> None:
    subscribed = ConstFuture("seen")
    subscribed.on_computed.subscribe(lambda future: None)

    @asynq.asynq()
    def parent() -> Any:
        values = yield [ConstFuture(1), subscribed]
        return values

    assert parent() == [1, "seen"]


def test_each_thread_has_its_own_scheduler_and_runs_its_own_tasks() -> None:
    kind = KeyKind()
    results: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    @asynq.asynq()
    def fetch_pair(name: str) -> Any:
        barrier.wait(timeout=5)
        values = yield [double.asynq(1), double_later.asynq(2)]
        return name, values, get_scheduler()

    def run(name: str) -> None:
        results[name] = fetch_pair(name)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results["t1"][:2] == ("t1", [2, 4])
    assert results["t2"][:2] == ("t2", [2, 4])
    assert results["t1"][2] is not results["t2"][2]
    assert get_scheduler() not in (results["t1"][2], results["t2"][2])
    assert kind.flushes == []


def test_a_running_task_cannot_be_scheduled_again() -> None:
    task = double_later.asynq(1)
    task.running = True
    try:
        with pytest.raises(AsyncqInternalError, match="please file a bug"):
            get_scheduler()._run(task)
    finally:
        task.running = False


def test_task_repr_names_the_call_and_its_state() -> None:
    task = double_later.asynq(21)
    assert repr(task) == "<AsyncTask double_later(21) not started>"
    task.value()
    assert repr(task) == "<AsyncTask double_later(21) value=42>"


def test_task_dump_prints_the_call_and_its_creator(capsys: pytest.CaptureFixture[str]) -> None:
    @asynq.asynq()
    def parent() -> Any:
        child = double_later.asynq(1)
        child.dump()
        yield child

    parent()
    out = capsys.readouterr().out
    assert "<AsyncTask double_later(1) not started>" in out
    assert (
        "created by <AsyncTask test_task_dump_prints_the_call_and_its_creator.<locals>.parent() running>"
        in out
    )


def test_can_continue_and_is_blocked_follow_the_task() -> None:
    kind = KeyKind()
    states = []

    @asynq.asynq()
    def waits() -> Any:
        return (yield kind.get("k"))

    @asynq.asynq()
    def observer(task: AsyncTask[Any]) -> Any:
        yield None
        states.append((task.can_continue(), task.is_blocked()))
        return (yield task)

    task = waits.asynq()
    assert (task.can_continue(), task.is_blocked()) == (False, False)

    @asynq.asynq()
    def both() -> Any:
        return (yield [task, observer.asynq(task)])

    assert both() == [("value", "k"), ("value", "k")]
    assert states == [(False, True)]


def test_waiters_of_one_error_each_get_their_own_traceback() -> None:
    import traceback

    @asynq.asynq()
    def failing() -> Any:
        yield None
        raise ValueError("shared")

    shared = failing.asynq()

    @asynq.asynq()
    def w1() -> Any:
        yield shared

    @asynq.asynq()
    def w2() -> Any:
        yield shared

    @asynq.asynq()
    def root() -> Any:
        yield [w1.asynq(), w2.asynq()]

    with pytest.raises(ValueError) as raised:
        root()
    names = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    ours = [name for name in names if name in {"root", "w1", "w2", "failing"}]
    assert ours == ["root", "w1", "failing"]
    with pytest.raises(ValueError) as again:
        shared.value()
    again_names = [f.name for f in traceback.extract_tb(again.value.__traceback__)]
    assert [n for n in again_names if n in {"root", "w1", "w2", "failing"}] == ["failing"]


def test_dump_sync_calls_logs_each_synchronous_call_inside_a_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asynq.debug.options.DUMP_SYNC_CALLS = True

    @asynq.asynq()
    def caller() -> Any:
        yield None
        return double_later(2)

    with caplog.at_level("WARNING", logger="asynq"):
        assert caller() == 4
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert messages[0].startswith(
        f"asynq: @asynq() {__name__}.double_later was called synchronously inside <AsyncTask "
    )
    assert messages[0].endswith(
        "its reads are not batched with the caller's other work. Write `yield "
        "double_later.asynq(...)` instead."
    )


def test_synchronous_calls_outside_tasks_are_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    asynq.debug.options.DUMP_SYNC_CALLS = True
    with caplog.at_level("WARNING", logger="asynq"):
        assert double_later(1) == 2
    assert caplog.records == []
    assert get_scheduler().stats.impure_calls == 0


def test_a_value_provider_that_waits_on_tasks_does_not_wake_its_yielder_early() -> None:
    kv = KeyKind()
    shared = double_later.asynq(5)

    def provide() -> Any:
        # Runs while the yielding task is being registered: it computes `shared`, which the
        # same yield also waits on.
        return shared.value() + kv.get("p").value()[1].count("p")

    @asynq.asynq()
    def yielder() -> Any:
        return (yield [shared, Future(provide), kv.get("k")])

    assert yielder() == [10, 11, ("value", "k")]


def test_an_on_computed_callback_may_wait_for_the_task_its_future_woke() -> None:
    seen: list[Any] = []
    holder: list[AsyncTask[Any]] = []

    @asynq.asynq()
    def child() -> Any:
        yield None
        return 1

    @asynq.asynq()
    def parent(task: AsyncTask[Any]) -> Any:
        return (yield task) + 1

    task = child.asynq()
    task.on_computed.subscribe(lambda f: seen.append(holder[0].value()))
    holder.append(parent.asynq(task))
    assert holder[0].value() == 2
    assert seen == [2]

"""asynq.lowlevel: the kernel's surface for code that builds on tasks, items and batches."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import asynq
from asynq import (
    AsyncContext,
    AsyncTask,
    BatchBase,
    BatchItemBase,
    ConstFuture,
    DebugBatchItem,
    get_scheduler,
    lowlevel,
)
from asynq.contexts import enter_context, leave_context
from core.helpers import KeyKind


class Recorder(AsyncContext):
    """Logs when the task it belongs to is switched in (resume) and out (pause)."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")

    def pause(self) -> None:
        self.log.append(f"pause {self.name}")


def body(log: list[str], result: Any = None) -> Generator[Any, Any, Any]:
    log.append("body")
    yield None
    return result


def new_task(generator: Generator[Any, Any, Any]) -> AsyncTask[Any]:
    return AsyncTask(generator, body, (), {})


# -- tasks ---------------------------------------------------------------------------------------


def test_a_started_task_runs_inside_the_contexts_it_was_given_not_its_creators() -> None:
    log: list[str] = []
    task = new_task(body(log, 7))
    lowlevel.start_task(task, (Recorder("request", log),))
    assert log == []  # queued, not run
    assert task.value() == 7
    assert log[0] == "resume request"
    assert "body" in log
    assert log[-1] == "pause request"


def test_a_started_task_runs_when_its_scheduler_next_runs_tasks() -> None:
    log: list[str] = []
    task = new_task(body(log, "done"))
    lowlevel.start_task(task, scheduler=get_scheduler())
    assert not task.is_computed()
    get_scheduler().run_ready()
    assert task.value() == "done"


def test_task_contexts_are_those_a_task_runs_in_and_none_outside_a_task() -> None:
    seen: list[tuple[Any, ...]] = []
    context = Recorder("outer", [])

    @asynq.asynq()
    def inner() -> None:
        seen.append(lowlevel.task_contexts(asynq.get_active_task()))

    @asynq.asynq()
    def outer() -> Any:
        with context:
            yield inner.asynq()

    outer()
    assert seen == [(context,)]
    assert lowlevel.task_contexts(None) == ()


def test_task_contexts_attribute_is_replaced_by_a_with_block_and_read_by_task_contexts() -> None:
    seen: list[tuple[Any, ...]] = []
    context = Recorder("outer", [])

    @asynq.asynq()
    def outer() -> Any:
        task = asynq.get_active_task()
        assert task is not None
        before = task.contexts
        with context:
            seen.append(task.contexts)
            # The 1.6 spelling reads the same stack; it was never a dict here, but lists alike.
            assert task._contexts is task.contexts
            assert task._contexts.values() == [context]
        assert task.contexts == before == ()
        seen.append(lowlevel.task_contexts(task))

    outer()
    assert seen == [(context,), ()]


def test_task_generator_is_the_generator_the_task_drives() -> None:
    generator = body([])
    assert lowlevel.task_generator(new_task(generator)) is generator


def test_context_task_is_the_task_that_entered_the_context_until_it_leaves() -> None:
    context = Recorder("c", [])
    seen: list[Any] = []

    @asynq.asynq()
    def enter_and_leave() -> None:
        enter_context(context)
        seen.append(lowlevel.context_task(context) is asynq.get_active_task())
        leave_context(context)
        seen.append(lowlevel.context_task(context))

    enter_and_leave()
    assert seen == [True, None]


# -- items whose value a task computes -----------------------------------------------------------


def test_an_item_set_from_a_task_gets_the_tasks_value_and_leaves_its_batch_unflushed() -> None:
    kv = KeyKind("kv")
    db = KeyKind("db")
    item = kv.get("slow")
    batch = item.batch

    def compute() -> Generator[Any, Any, None]:
        value = yield db.get("dependency")
        item.set_value(("computed", value))

    @asynq.asynq()
    def reader() -> Any:
        return (yield item)

    lowlevel.set_from_task(item, new_task(compute()))
    assert item.batch is lowlevel.AWAITING_TASK
    assert reader() == ("computed", ("value", "dependency"))
    assert db.flushes == [["dependency"]]
    assert kv.flushes == []  # the item's old batch was never needed
    assert not batch.is_flushed()


def test_a_task_waiting_on_an_item_set_from_a_task_wakes_when_the_task_sets_it() -> None:
    item = DebugBatchItem("lowlevel-a", result="from the batch")
    waiting: list[str] = []

    def compute() -> Generator[Any, Any, None]:
        yield None
        item.set_value("from the task")

    @asynq.asynq()
    def reader(name: str) -> Any:
        value = yield item
        waiting.append(name)
        return value

    lowlevel.set_from_task(item, new_task(compute()))

    @asynq.asynq()
    def both() -> Any:
        return (yield [reader.asynq("a"), reader.asynq("b")])

    assert both() == ["from the task", "from the task"]
    assert sorted(waiting) == ["a", "b"]


class HandingBatch(BatchBase[Any]):
    """Hands every item to a task that sets it to twice its key; then maybe raises."""

    active: HandingBatch | None = None

    def __init__(self, fail_with: Exception | None = None) -> None:
        super().__init__()
        self.fail_with = fail_with

    def _try_switch_active_batch(self) -> None:
        if HandingBatch.active is self:
            HandingBatch.active = HandingBatch(self.fail_with)

    def _flush(self) -> None:
        for item in self.items:
            lowlevel.set_from_task(item, new_task(double(item)))
        if self.fail_with is not None:
            raise self.fail_with


class HandedItem(BatchItemBase):
    def __init__(self, key: int) -> None:
        assert HandingBatch.active is not None
        super().__init__(HandingBatch.active)
        self.key = key


def double(item: HandedItem) -> Generator[Any, Any, None]:
    yield None
    item.set_value(item.key * 2)


@pytest.mark.parametrize("fail_with", [None, RuntimeError("the flush failed after handing")])
def test_items_a_flush_hands_to_tasks_are_set_by_the_tasks_even_if_the_flush_fails(
    fail_with: Exception | None,
) -> None:
    HandingBatch.active = HandingBatch(fail_with)

    @asynq.asynq()
    def page() -> Any:
        return (yield [HandedItem(1), HandedItem(2)])

    assert page() == [2, 4]


def test_the_awaiting_task_batch_takes_no_items_and_is_never_scheduled() -> None:
    assert lowlevel.is_closed(lowlevel.AWAITING_TASK)
    get_scheduler().schedule(lowlevel.AWAITING_TASK)
    assert get_scheduler().take_batches() == []


# -- batches -------------------------------------------------------------------------------------


def test_resolve_item_wakes_every_task_waiting_on_the_item_and_calls_its_subscribers() -> None:
    item = DebugBatchItem("lowlevel-b")
    called: list[Any] = []
    item.on_computed.subscribe(lambda future: called.append(future.value()))
    woken: list[str] = []

    @asynq.asynq()
    def reader(name: str) -> Any:
        value = yield item
        woken.append(name)
        return value

    @asynq.asynq()
    def resolver() -> Any:
        yield None
        lowlevel.resolve_item(item, 42)

    @asynq.asynq()
    def page() -> Any:
        return (yield [reader.asynq("a"), reader.asynq("b"), resolver.asynq()])

    assert page() == [42, 42, None]
    assert sorted(woken) == ["a", "b"]
    assert called == [42]


def test_resolve_item_with_one_waiting_task_wakes_it() -> None:
    item = DebugBatchItem("lowlevel-c")

    @asynq.asynq()
    def reader() -> Any:
        return (yield item)

    @asynq.asynq()
    def resolver() -> Any:
        yield None
        lowlevel.resolve_item(item, "one")

    @asynq.asynq()
    def page() -> Any:
        return (yield reader.asynq(), resolver.asynq())

    assert page() == ("one", None)


def test_fail_item_fails_the_tasks_waiting_on_it() -> None:
    item = DebugBatchItem("lowlevel-d")

    @asynq.asynq()
    def reader() -> Any:
        return (yield item)

    task = reader.asynq()
    get_scheduler().schedule(task)
    get_scheduler().run_ready()
    lowlevel.fail_item(item, KeyError("gone"))
    with pytest.raises(KeyError, match="gone"):
        task.value()


def test_pending_items_lists_in_order_the_items_a_flush_must_still_set() -> None:
    kv = KeyKind("kv")
    first, second, third = kv.get("a"), kv.get("b"), kv.get("c")
    second.set_value("set early")
    assert lowlevel.pending_items(first.batch) == [first, third]


def test_close_batch_makes_a_fresh_batch_active_and_the_closed_one_still_flushes() -> None:
    kv = KeyKind("kv")
    first = kv.get("a")
    closed = kv.active
    lowlevel.close_batch(closed)
    second = kv.get("b")
    assert second.batch is not closed
    assert first.value() == ("value", "a")
    assert closed.is_flushed()
    assert lowlevel.is_closed(closed)
    assert not lowlevel.is_closed(kv.active)


# -- hooks ---------------------------------------------------------------------------------------


@asynq.asynq()
def plain(x: int) -> int:
    return x + 1


def test_a_before_sync_call_hook_runs_before_every_synchronous_call() -> None:
    calls: list[str] = []
    previous = lowlevel.set_before_sync_call(lambda: calls.append("hook"))
    try:
        assert plain(1) == 2
        assert plain(2) == 3
    finally:
        lowlevel.set_before_sync_call(previous)
    assert calls == ["hook", "hook"]
    assert plain(3) == 4
    assert calls == ["hook", "hook"]


def test_setting_a_sync_call_hook_returns_the_one_it_replaces_so_it_can_be_put_back() -> None:
    # Legacy priming keeps its hook installed once something was primed: a tool that sets its
    # own for a while and then sets None would silently stop priming from being driven.
    def first() -> None:
        pass

    def second() -> None:
        pass

    original = lowlevel.set_before_sync_call(first)
    try:
        assert lowlevel.set_before_sync_call(second) is first
        assert lowlevel.set_before_sync_call(None) is second
    finally:
        lowlevel.set_before_sync_call(original)
    checks: list[Any] = []
    original_check = lowlevel.set_sync_call_check(checks.append)
    try:
        assert lowlevel.set_sync_call_check(None) == checks.append
    finally:
        lowlevel.set_sync_call_check(original_check)


def test_a_sync_call_check_sees_the_function_called() -> None:
    seen: list[Any] = []
    previous = lowlevel.set_sync_call_check(seen.append)
    try:
        plain(1)
    finally:
        lowlevel.set_sync_call_check(previous)
    assert seen == [plain]


def test_note_sync_call_counts_an_impure_call() -> None:
    stats = get_scheduler().stats
    before = stats.impure_calls
    lowlevel.note_sync_call(plain)
    assert stats.impure_calls == before + 1


def test_thread_state_holds_the_threads_scheduler() -> None:
    assert lowlevel.thread_state.scheduler is get_scheduler()


def test_short_repr_cuts_long_values_and_survives_a_broken_repr() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise ValueError("no")

    assert lowlevel.short_repr("x" * 100, 10) == "'xxxxxx..."
    assert lowlevel.short_repr(Broken()) == "<unrepresentable Broken: ValueError('no')>"


def test_state_str_describes_a_futures_state() -> None:
    assert lowlevel.state_str(ConstFuture(3)) == "value=3"
    assert lowlevel.state_str(DebugBatchItem("lowlevel-e")) == "pending"
    assert lowlevel.state_str(new_task(body([]))) == "not started"


# -- abuse: every error message, pinned ------------------------------------------------------------


def test_start_task_refuses_what_is_not_a_task() -> None:
    with pytest.raises(TypeError) as raised:
        lowlevel.start_task(ConstFuture(1))  # type: ignore[arg-type]
    assert str(raised.value) == (
        "start_task() expects an AsyncTask (what f.asynq(...) returns, or AsyncTask(generator, "
        "fn, args, kwargs)), got ConstFuture: <ConstFuture value=1>"
    )


def test_start_task_refuses_a_task_that_already_started() -> None:
    task = plain.asynq(1)
    task.value()
    with pytest.raises(ValueError) as raised:
        lowlevel.start_task(task)
    assert str(raised.value) == (
        "start_task() expects a task that has not started, got <AsyncTask plain(1) value=2>; "
        "create a new task for each run"
    )


def test_set_from_task_refuses_what_is_not_a_batch_item() -> None:
    with pytest.raises(TypeError) as raised:
        lowlevel.set_from_task(ConstFuture(1), new_task(body([])))  # type: ignore[arg-type]
    assert str(raised.value) == (
        "set_from_task() expects a batch item (a BatchItemBase), got ConstFuture: "
        "<ConstFuture value=1>"
    )


def test_set_from_task_refuses_an_item_that_is_already_computed() -> None:
    item = DebugBatchItem("lowlevel-f", result=5)
    item.value()
    with pytest.raises(ValueError) as raised:
        lowlevel.set_from_task(item, new_task(body([])))
    assert str(raised.value) == (
        f"set_from_task() got {item!r}, which is already computed; hand a task only an item "
        "that is still pending"
    )


def test_set_from_task_refuses_a_started_task() -> None:
    task = plain.asynq(1)
    task.value()
    with pytest.raises(ValueError, match=r"^set_from_task\(\) expects a task that has not started"):
        lowlevel.set_from_task(DebugBatchItem("lowlevel-g"), task)


def test_hooks_refuse_what_cannot_be_called() -> None:
    with pytest.raises(TypeError) as raised:
        lowlevel.set_before_sync_call(3)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "set_before_sync_call() expects a function of no arguments or None, got int: 3"
    )
    with pytest.raises(TypeError) as raised:
        lowlevel.set_sync_call_check("check")  # type: ignore[arg-type]
    assert str(raised.value) == (
        "set_sync_call_check() expects a function of one argument or None, got str: 'check'"
    )


def test_an_asyncio_bridge_must_have_the_three_functions() -> None:
    class HalfBridge:
        def is_asyncio_mode(self) -> bool:
            return False

        def __repr__(self) -> str:
            return "<HalfBridge>"

    with pytest.raises(TypeError) as raised:
        lowlevel.register_asyncio_bridge(HalfBridge())
    assert str(raised.value) == (
        "register_asyncio_bridge() got <HalfBridge>, which lacks from_awaitable, "
        "resolve_in_asyncio; pass the asynq.asyncio_interop module or an object with those "
        "three functions"
    )

"""Holding tasks: while held, a task does not run, even when what it waited for is computed;
a synchronous call made meanwhile runs only what it needs. Released, the task goes on."""

from __future__ import annotations

from typing import Any

from asynq import asynq
from asynq.scheduler import get_scheduler
from tests.core.helpers import KeyKind


@asynq()
def _read(kind: KeyKind, key: Any) -> Any:
    return (yield kind.get(key))


def test_a_held_task_woken_during_a_synchronous_call_runs_only_after_the_release() -> None:
    kind = KeyKind()
    order: list[str] = []

    @asynq()
    def caller() -> Any:
        value = yield kind.get("a")
        order.append("caller resumed")
        return value

    @asynq()
    def stage(task: Any) -> Any:
        hold = get_scheduler().hold([task])  # blocked on "a": woken aside
        try:
            yield kind.get("b")  # "a" and "b" are read in round one
            order.append("sync call starts")
            value = _read(kind, "c")  # a synchronous call: a round of its own
            order.append("sync call ends")
        finally:
            get_scheduler().release(hold)
        return value

    @asynq()
    def page() -> Any:
        task = caller.asynq()
        return (yield task, stage.asynq(task))

    assert page() == (("value", "a"), ("value", "c"))
    assert order == ["sync call starts", "sync call ends", "caller resumed"]
    assert kind.flushes == [["a", "b"], ["c"]]


def test_a_ready_task_that_is_held_waits_aside_until_the_release() -> None:
    kind = KeyKind()
    order: list[str] = []

    @asynq()
    def other() -> Any:
        order.append("other ran")
        return 1
        yield  # a generator function

    @asynq()
    def holder() -> Any:
        scheduler = get_scheduler()
        task = other.asynq()
        scheduler.schedule(task)  # ready, not run yet
        hold = scheduler.hold([task])
        try:
            _read(kind, "x")  # the synchronous call's loop does not run it
            order.append("sync call ended")
        finally:
            scheduler.release(hold)
        return (yield task)

    assert holder() == 1
    assert order == ["sync call ended", "other ran"]


def test_held_tasks_run_anyway_when_nothing_else_can_go_on() -> None:
    kind = KeyKind()

    @asynq()
    def needed() -> Any:
        return (yield kind.get("n"))

    @asynq()
    def holder() -> Any:
        scheduler = get_scheduler()
        task = needed.asynq()
        scheduler.schedule(task)
        hold = scheduler.hold([task])
        try:
            return task.value()  # needs the held task: it runs rather than deadlock
        finally:
            scheduler.release(hold)

    assert holder() == ("value", "n")
    assert kind.flushes == [["n"]]


def test_tasks_a_held_task_created_are_held_too_but_not_what_the_running_task_creates() -> None:
    kind = KeyKind()
    order: list[str] = []

    @asynq()
    def child(key: str) -> Any:
        value = yield kind.get(key)
        order.append(f"child {key} resumed")
        return value

    @asynq()
    def caller() -> Any:
        return (yield child.asynq("a"), child.asynq("b"))

    @asynq()
    def holder(task: Any) -> Any:
        yield kind.get("h")  # read with "a" and "b", which the children of ``task`` wait for
        hold = get_scheduler().hold([task])
        try:
            value = child("c")  # a synchronous call: its own task is not held
            order.append("sync call ended")
        finally:
            get_scheduler().release(hold)
        return value

    @asynq()
    def page() -> Any:
        task = caller.asynq()
        return (yield holder.asynq(task), task)

    assert page() == (("value", "c"), (("value", "a"), ("value", "b")))
    assert order == ["child c resumed", "sync call ended", "child a resumed", "child b resumed"]
    assert kind.flushes == [["h", "a", "b"], ["c"]]

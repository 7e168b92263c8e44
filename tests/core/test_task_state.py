"""What a running task exposes about itself: its contexts and what it waits on."""

from __future__ import annotations

from typing import Any

import asynq
from asynq import AsyncContext, AsyncTask
from asynq.scheduler import get_active_task
from core.helpers import KeyKind


class Named(AsyncContext):
    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Named) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]

    def resume(self) -> None:
        pass

    def pause(self) -> None:
        pass


def test_a_task_lists_its_contexts_outermost_first_even_when_they_compare_equal() -> None:
    seen: list[list[Any]] = []

    @asynq.asynq()
    def nested() -> None:
        task = get_active_task()
        assert task is not None
        first, second, third = Named("a"), Named("b"), Named("a")
        with first, second, third:
            seen.append(task._contexts.values())
        seen.append(task._contexts.values())
        seen.append([first, second, third])

    nested()
    inside, after, made = seen
    assert [id(c) for c in inside] == [id(c) for c in made]
    assert after == []


def test_a_running_task_waits_on_nothing_and_a_blocked_one_on_what_it_yielded() -> None:
    kv = KeyKind()
    observed: dict[str, Any] = {}

    @asynq.asynq()
    def reader() -> Any:
        task = get_active_task()
        assert task is not None
        observed["running"] = set(task._dependencies)
        first, second = kv.get("a"), kv.get("b")
        observed["task"], observed["items"] = task, {first, second}
        values = yield [first, second, asynq.ConstFuture(3)]
        observed["after"] = set(task._dependencies)
        return values

    @asynq.asynq()
    def watcher() -> Any:
        yield None  # reader is blocked on its batch items by now
        observed["blocked"] = set(observed["task"]._dependencies)

    @asynq.asynq()
    def both() -> Any:
        return (yield reader.asynq(), watcher.asynq())

    result, _ = both()
    assert result == [("value", "a"), ("value", "b"), 3]
    assert observed["running"] == set() and observed["after"] == set()
    assert observed["blocked"] == observed["items"]
    assert isinstance(observed["task"], AsyncTask)

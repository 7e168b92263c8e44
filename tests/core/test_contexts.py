"""Contexts follow their task: paused when it is switched out, resumed when it comes back."""

from __future__ import annotations

from typing import Any

import pytest

import asynq
from asynq import AsyncContext, AsyncScopedValue, NonAsyncContext, async_override
from asynq.batching import sync
from core.helpers import KeyKind


class Recorder(AsyncContext):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")

    def pause(self) -> None:
        self.log.append(f"pause {self.name}")


def test_a_context_is_paused_while_its_task_is_switched_out() -> None:
    log: list[str] = []

    @asynq.asynq()
    def inside() -> Any:
        with Recorder("ctx", log):
            log.append("before yield")
            yield sync()
            log.append("after yield")
        log.append("after block")

    @asynq.asynq()
    def other() -> Any:
        log.append("other runs")
        yield None

    @asynq.asynq()
    def both() -> Any:
        yield inside.asynq(), other.asynq()

    both()
    assert log == [
        "resume ctx",
        "before yield",
        "pause ctx",
        "other runs",
        "resume ctx",
        "after yield",
        "pause ctx",
        "after block",
    ]


def test_tasks_created_inside_a_context_run_inside_it() -> None:
    log: list[str] = []

    @asynq.asynq()
    def child() -> Any:
        log.append("child runs")
        yield None

    @asynq.asynq()
    def parent() -> Any:
        with Recorder("ctx", log):
            task = child.asynq()
        log.append("left block")
        yield task

    parent()
    assert log == [
        "resume ctx",
        "pause ctx",
        "left block",
        "resume ctx",
        "child runs",
        "pause ctx",
    ]


def test_an_async_context_outside_any_task_is_an_ordinary_context_manager() -> None:
    log: list[str] = []
    with Recorder("plain", log) as ctx:
        log.append("body")
    assert isinstance(ctx, Recorder)
    assert log == ["resume plain", "body", "pause plain"]


def test_a_scoped_value_override_is_seen_only_by_its_task_and_children() -> None:
    level = AsyncScopedValue("default")
    seen: list[tuple[str, str]] = []

    @asynq.asynq()
    def report(name: str) -> Any:
        seen.append((name, level()))
        yield sync()
        seen.append((name, level.get()))

    @asynq.asynq()
    def overriding() -> Any:
        with level.override("overridden"):
            yield report.asynq("child")
            seen.append(("overriding", level()))

    @asynq.asynq()
    def page() -> Any:
        yield overriding.asynq(), report.asynq("sibling")

    page()
    assert sorted(seen) == sorted(
        [
            ("child", "overridden"),
            ("child", "overridden"),
            ("sibling", "default"),
            ("sibling", "default"),
            ("overriding", "overridden"),
        ]
    )
    assert level() == "default"


def test_scoped_value_set_replaces_the_default() -> None:
    value = AsyncScopedValue(1)
    value.set(2)
    assert value.get() == 2
    with value.override(3):
        assert value() == 3
    assert value() == 2
    assert repr(value) == "AsyncScopedValue(2)"


def test_async_override_sets_an_attribute_only_while_its_task_runs() -> None:
    class Config:
        mode = "normal"

    seen: list[tuple[str, str]] = []

    @asynq.asynq()
    def look(name: str) -> Any:
        seen.append((name, Config.mode))
        yield sync()
        seen.append((name, Config.mode))

    @asynq.asynq()
    def debug_mode() -> Any:
        with async_override(Config, "mode", "debug"):
            yield look.asynq("inside")

    @asynq.asynq()
    def page() -> Any:
        yield debug_mode.asynq(), look.asynq("outside")

    page()
    assert [v for name, v in seen if name == "inside"] == ["debug", "debug"]
    assert [v for name, v in seen if name == "outside"] == ["normal", "normal"]
    assert Config.mode == "normal"


def test_a_non_async_context_allows_yields_of_computed_futures() -> None:
    @asynq.asynq()
    def fine() -> Any:
        with NonAsyncContext():
            value = yield asynq.ConstFuture(5)
        return value

    assert fine() == 5


def test_yielding_an_unfinished_future_inside_a_non_async_context_fails_at_the_yield() -> None:
    kv = KeyKind()

    @asynq.asynq()
    def not_fine() -> Any:
        with NonAsyncContext():
            try:
                yield kv.get("k")
            except RuntimeError as error:
                return str(error)
        return "no error"

    message = not_fine()
    assert "yielded inside a `with` block of a NonAsyncContext" in message
    # After the block the task may switch again.

    @asynq.asynq()
    def after_block() -> Any:
        with NonAsyncContext():
            pass
        return (yield kv.get("k2"))

    assert after_block() == ("value", "k2")


def test_a_non_async_context_outside_tasks_does_nothing_special() -> None:
    with NonAsyncContext() as ctx:
        assert isinstance(ctx, NonAsyncContext)


def test_an_exception_inside_a_context_still_pauses_it() -> None:
    log: list[str] = []

    @asynq.asynq()
    def fails() -> Any:
        with Recorder("ctx", log):
            yield sync()
            raise ValueError("inside")

    with pytest.raises(ValueError):
        fails()
    assert log == ["resume ctx", "pause ctx", "resume ctx", "pause ctx"]


# -- contexts for new root tasks ------------------------------------------------------------------


def test_root_tasks_start_in_the_contexts_for_new_roots_and_pass_them_to_their_tasks() -> None:
    from asynq.contexts import contexts_for_new_roots

    events: list[str] = []

    class Marker(AsyncContext):
        def resume(self) -> None:
            events.append("resume")

        def pause(self) -> None:
            events.append("pause")

    @asynq.asynq()
    def child() -> Any:
        yield None
        return "child"

    @asynq.asynq()
    def root() -> Any:
        return (yield child.asynq())

    marker = Marker()
    with contexts_for_new_roots(marker):
        task = root.asynq()
        assert task._contexts == (marker,)
        assert task.value() == "child"
    assert events and events.count("resume") == events.count("pause")
    assert root.asynq()._contexts == ()  # outside the block: none


def test_contexts_for_new_roots_refuses_what_is_not_an_async_context() -> None:
    from asynq.contexts import contexts_for_new_roots

    with pytest.raises(TypeError) as error:
        with contexts_for_new_roots("request"):  # type: ignore[arg-type]
            pass
    assert str(error.value) == (
        "contexts_for_new_roots() expects AsyncContext objects, got str: 'request'"
    )

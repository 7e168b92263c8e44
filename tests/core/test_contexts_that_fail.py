"""Contexts whose pause or resume raises, and NonAsyncContext's error type."""

from __future__ import annotations

from typing import Any

import pytest

import asynq
from asynq import AsyncContext, NonAsyncContext
from asynq.contexts import NonAsyncContextError
from core.helpers import KeyKind


class Counting(AsyncContext):
    active = 0

    def resume(self) -> None:
        Counting.active += 1

    def pause(self) -> None:
        Counting.active -= 1


class FailsToPause(AsyncContext):
    def resume(self) -> None:
        pass

    def pause(self) -> None:
        raise KeyboardInterrupt


@asynq.asynq()
def one() -> int:
    return 1


def test_a_context_that_fails_to_pause_does_not_keep_the_others_active() -> None:
    @asynq.asynq()
    def wrapped() -> Any:
        with Counting(), FailsToPause(), Counting():
            return (yield one.asynq())

    Counting.active = 0
    with pytest.raises(KeyboardInterrupt):
        wrapped()
    assert Counting.active == 0


def test_the_scheduler_works_after_a_context_failed_to_pause() -> None:
    @asynq.asynq()
    def wrapped() -> Any:
        with FailsToPause():
            return (yield one.asynq())

    with pytest.raises(KeyboardInterrupt):
        wrapped()
    assert one() == 1


def test_yielding_inside_a_non_async_context_is_a_runtime_error_and_an_assertion_error() -> None:
    kv = KeyKind()
    caught: list[BaseException] = []

    @asynq.asynq()
    def not_fine() -> Any:
        with NonAsyncContext():
            try:
                yield kv.get("k")
            except NonAsyncContextError as error:
                caught.append(error)

    not_fine()
    assert isinstance(caught[0], RuntimeError)
    assert isinstance(caught[0], AssertionError)
    assert str(caught[0]) == (
        "an @asynq() function yielded inside a `with` block of a NonAsyncContext, which must not "
        "be active while the task is switched out; move the yield out of the `with` block"
    )

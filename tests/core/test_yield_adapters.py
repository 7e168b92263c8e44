"""Yield adapters: the kernel's hook that may turn a rejected yield into futures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import asynq
from asynq import ConstFuture
from asynq.scheduler import add_yield_adapter, remove_yield_adapter


class Ticket:
    def __init__(self, number: int) -> None:
        self.number = number


def tickets_as_futures(yielded: Any) -> Any:
    if type(yielded) is Ticket:
        return ConstFuture(f"ticket {yielded.number}")
    if type(yielded) is list and any(type(item) is Ticket for item in yielded):
        return [tickets_as_futures(item) if type(item) is Ticket else item for item in yielded]
    return None


@pytest.fixture
def adapter() -> Iterator[None]:
    add_yield_adapter(tickets_as_futures)
    try:
        yield
    finally:
        remove_yield_adapter(tickets_as_futures)


@asynq.asynq()
def wait_for_tickets() -> Any:
    one = yield Ticket(1)
    more = yield [Ticket(2), ConstFuture("plain")]
    return one, more


def test_an_adapter_turns_what_it_recognizes_into_futures(adapter: None) -> None:
    assert wait_for_tickets() == ("ticket 1", ["ticket 2", "plain"])


def test_without_the_adapter_the_same_yield_is_the_usual_type_error() -> None:
    with pytest.raises(TypeError, match=r"yielded a Ticket \(<"):
        wait_for_tickets()


def test_what_no_adapter_recognizes_is_still_rejected(adapter: None) -> None:
    @asynq.asynq()
    def wrong() -> Any:
        return (yield {1, 2})

    with pytest.raises(TypeError, match="yielded a set"):
        wrong()

"""on_computed callbacks: one that raises does not change the future or skip the others."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import asynq


def test_a_callback_that_raises_is_logged_and_the_future_keeps_its_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def broken(future: Any) -> None:
        calls.append("broken")
        raise ValueError("callback bug")

    def fine(future: Any) -> None:
        calls.append(f"fine saw {future.value()}")

    future = asynq.Future(lambda: 3)
    future.on_computed.subscribe(broken)
    future.on_computed.subscribe(fine)
    with caplog.at_level(logging.ERROR, logger="asynq"):
        assert future.value() == 3
    assert calls == ["broken", "fine saw 3"]
    [record] = caplog.records
    assert record.getMessage().startswith("asynq: on_computed callback <function ")
    assert record.getMessage().endswith("raised; the error is ignored")
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_a_callback_of_a_task_that_raises_does_not_fail_the_task() -> None:
    @asynq.asynq()
    def five() -> Any:
        yield None
        return 5

    task = five.asynq()
    task.on_computed.subscribe(lambda _: 1 / 0)
    assert task.value() == 5


def test_a_keyboard_interrupt_in_a_callback_goes_on() -> None:
    def interrupt(future: Any) -> None:
        raise KeyboardInterrupt

    future = asynq.Future(lambda: 4)
    future.on_computed.subscribe(interrupt)
    with pytest.raises(KeyboardInterrupt):
        future.value()

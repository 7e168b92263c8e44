"""A task chain deeper than debug.options.MAX_TASK_STACK_SIZE fails instead of running forever."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import asynq
from asynq import debug
from asynq.scheduler import get_scheduler


@asynq.asynq()
def without_base_case(n: int) -> Any:
    return (yield without_base_case.asynq(n + 1))


@asynq.asynq()
def countdown(n: int) -> Any:
    if n == 0:
        return 0
    return (yield countdown.asynq(n - 1)) + 1


@pytest.fixture
def limit_of_50() -> Iterator[None]:
    saved = debug.options.MAX_TASK_STACK_SIZE
    debug.options.MAX_TASK_STACK_SIZE = 50
    try:
        yield
    finally:
        debug.options.MAX_TASK_STACK_SIZE = saved


def test_a_recursion_without_base_case_raises_runtime_error(limit_of_50: None) -> None:
    with pytest.raises(RuntimeError) as caught:
        without_base_case(0)
    assert str(caught.value) == (
        "asynq task stack too deep: creating without_base_case(50) would make a chain of 51 "
        "tasks, each created by the next, which is more than debug.options.MAX_TASK_STACK_SIZE "
        "(50). This is usually a recursion without a base case; if the depth is intended, raise "
        "the limit"
    )


def test_the_limit_also_holds_in_shuffled_order(limit_of_50: None) -> None:
    get_scheduler().shuffle(7)
    try:
        with pytest.raises(RuntimeError, match="would make a chain of 51 tasks"):
            without_base_case(0)
    finally:
        get_scheduler().shuffle(None)


def test_the_scheduler_works_after_the_limit_was_hit(limit_of_50: None) -> None:
    with pytest.raises(RuntimeError):
        without_base_case(0)
    assert countdown(10) == 10


def test_a_chain_as_long_as_the_limit_completes(limit_of_50: None) -> None:
    assert countdown(49) == 49  # 50 tasks: countdown(49) down to countdown(0)


def test_a_chain_one_longer_than_the_limit_fails(limit_of_50: None) -> None:
    with pytest.raises(RuntimeError, match="would make a chain of 51 tasks"):
        countdown(50)


def test_the_default_limit_allows_deep_recursion() -> None:
    assert countdown(20_000) == 20_000

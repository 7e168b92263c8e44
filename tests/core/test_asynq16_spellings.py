"""Small things asynq 1.6 code relies on: error types, pure wrappers, str of a scoped value."""

from __future__ import annotations

from typing import Any

import pytest

import asynq
from asynq import (
    AsyncScopedValue,
    AsyncTaskResult,
    ConstFuture,
    get_async_fn,
    is_pure_async_fn,
    lazy,
    result,
)
from asynq.decorators import IncompatibleOptionsError


def test_result_of_a_future_is_an_assertion_error_that_says_to_yield_it() -> None:
    with pytest.raises(AssertionError) as raised:
        result(ConstFuture(None))
    assert str(raised.value) == (
        "result() was given a future, <ConstFuture value=None>, not a value; yield it first: "
        "`result((yield fut)); return`, or simply `return (yield fut)`"
    )
    with pytest.raises(AsyncTaskResult):
        result(None)


@pytest.mark.parametrize("decorator", [asynq.asynq, asynq.async_proxy])
def test_pure_with_a_sync_fn_is_a_type_error_and_an_assertion_error(decorator: Any) -> None:
    with pytest.raises(IncompatibleOptionsError) as raised:
        decorator(pure=True, sync_fn=len)
    assert isinstance(raised.value, TypeError) and isinstance(raised.value, AssertionError)


def test_a_lazy_function_is_a_pure_async_function() -> None:
    @lazy
    def total(a: int, b: int) -> int:
        return a + b

    assert is_pure_async_fn(total)
    assert get_async_fn(total) is total
    assert total(1, 2).value() == 3


def test_the_wrapper_get_async_fn_makes_for_a_plain_function_is_pure() -> None:
    def plain() -> str:
        return "plain"

    wrapper = get_async_fn(plain, wrap_if_none=True)
    assert wrapper is not None and is_pure_async_fn(wrapper)
    future = wrapper()
    assert isinstance(future, ConstFuture) and future.value() == "plain"


def test_str_of_a_scoped_value_shows_the_value_and_repr_its_repr() -> None:
    value = AsyncScopedValue("nutria")
    assert str(value) == "AsyncScopedValue(nutria)"
    assert repr(value) == "AsyncScopedValue('nutria')"

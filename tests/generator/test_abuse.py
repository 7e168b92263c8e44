"""Every user-facing error of asynq.generator, pinned: what was received, what was expected, the
fix."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from asynq import DebugBatchItem, asynq
from asynq.generator import AsyncGenerator, Value, async_generator, list_of_generator, take_first

Gen = Generator[Any, Any, Any]

HOW_TO_YIELD = (
    "wrap a value it produces in Value (`yield Value(x)`), and yield only futures to wait for "
    "(a task from f.asynq(...), a batch item, None, or a list, tuple or dict of those)"
)


def test_yielding_plain_data_is_thrown_into_the_generator_with_the_fix() -> None:
    @async_generator()
    def forgot_value() -> Gen:
        yield 5

    generator = forgot_value()
    with pytest.raises(TypeError) as caught:
        list_of_generator(generator)
    assert str(caught.value) == (
        f"async generator {generator._name()} yielded int 5; {HOW_TO_YIELD}"
    )


def test_the_generator_may_catch_that_error_at_its_yield_and_go_on() -> None:
    @async_generator()
    def careful() -> Gen:
        try:
            yield "data"
        except TypeError:
            yield Value("fixed")
        yield DebugBatchItem()
        try:
            yield {1, 2}
        except TypeError as error:
            yield Value(str(error))

    generator = careful()
    assert list_of_generator(generator) == [
        "fixed",
        f"async generator {generator._name()} yielded set {{1, 2}}; {HOW_TO_YIELD}",
    ]


def test_advancing_before_the_previous_future_is_computed_says_to_yield_it_first() -> None:
    @async_generator()
    def waits() -> Gen:
        yield DebugBatchItem()
        yield Value(1)

    generator = waits()
    next(generator)
    with pytest.raises(RuntimeError) as caught:
        next(generator)
    assert str(caught.value) == (
        f"cannot advance async generator {generator._name()}: the future of its previous value "
        "is not computed yet; yield it (`value = yield task`) before asking for the next one"
    )


def test_decorating_something_that_is_not_a_generator_function_is_refused() -> None:
    def plain() -> int:
        return 1

    with pytest.raises(TypeError) as caught:
        async_generator()(plain)
    assert str(caught.value) == (
        f"@async_generator() expects a generator function (a def with `yield`), got function: "
        f"{plain.__qualname__}; yield Value(x) for each value it produces"
    )

    @asynq()
    def already_asynq() -> Gen:
        yield DebugBatchItem()

    with pytest.raises(TypeError) as caught:
        async_generator()(already_asynq)
    assert str(caught.value) == (
        f"@async_generator() was applied to the asynq function {already_asynq.__qualname__}; "
        "decorate the plain generator function with @async_generator() alone (not also "
        "@asynq())"
    )


def test_consuming_something_that_is_not_an_async_generator_is_refused() -> None:
    with pytest.raises(TypeError) as caught:
        list_of_generator([1, 2])
    assert str(caught.value) == (
        "list_of_generator() expects an async generator (the result of calling an "
        "@async_generator() function), got list: [1, 2]"
    )
    with pytest.raises(TypeError) as caught:
        take_first(iter([1]), 1)
    assert str(caught.value).startswith(
        "take_first() expects an async generator (the result of calling an @async_generator() "
        "function), got list_iterator: "
    )

    with pytest.raises(TypeError) as caught:
        AsyncGenerator([1])  # type: ignore[arg-type]
    assert str(caught.value) == (
        "AsyncGenerator() expects a generator object, got list: [1]; decorate the generator "
        "function with @async_generator() and call it"
    )


def test_take_first_with_a_negative_count_is_refused() -> None:
    @async_generator()
    def one() -> Gen:
        yield Value(1)

    with pytest.raises(ValueError) as caught:
        take_first(one(), -1)
    assert str(caught.value) == "take_first() needs a count n >= 0, got -1"

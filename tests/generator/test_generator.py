"""Async generators produce values one future at a time; what they wait on batches with the
work of the consumer's siblings."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from core.helpers import KeyKind

from asynq import asynq
from asynq.generator import (
    END_OF_GENERATOR,
    AsyncGenerator,
    Value,
    async_generator,
    list_of_generator,
    take_first,
)

Gen = Generator[Any, Any, Any]


@pytest.fixture
def kv() -> KeyKind:
    return KeyKind("kv")


def numbered(kv: KeyKind, log: list[Any] | None = None) -> Any:
    """An async generator of ``n`` values, each read through ``kv`` first."""

    @async_generator()
    def values(n: int) -> Gen:
        for i in range(n):
            if log is not None:
                log.append(("reads", i))
            value = yield kv.get(i)
            yield Value(value[1] * 10)
        if log is not None:
            log.append("end")

    return values


def test_list_of_generator_collects_every_value_in_order(kv: KeyKind) -> None:
    assert list_of_generator(numbered(kv)(3)) == [0, 10, 20]
    assert kv.flushes == [[0], [1], [2]]


def test_two_generators_consumed_together_share_their_rounds(kv: KeyKind) -> None:
    values = numbered(kv)

    @asynq()
    def both() -> Gen:
        return (yield list_of_generator.asynq(values(2)), list_of_generator.asynq(values(3)))

    assert both() == ([0, 10], [0, 10, 20])
    assert kv.flushes == [[0, 0], [1, 1], [2]]


def test_take_first_stops_the_generator_after_n_values(kv: KeyKind) -> None:
    log: list[Any] = []
    assert take_first(numbered(kv, log)(5), 2) == [0, 10]
    assert log == [("reads", 0), ("reads", 1)]
    assert kv.flushes == [[0], [1]]


def test_take_first_returns_fewer_values_when_the_generator_ends_sooner(kv: KeyKind) -> None:
    assert take_first(numbered(kv)(2), 5) == [0, 10]


def test_take_first_of_zero_values_runs_nothing(kv: KeyKind) -> None:
    log: list[Any] = []
    assert take_first(numbered(kv, log)(3), 0) == []
    assert log == []
    assert kv.flushes == []


def test_an_empty_generator_gives_an_empty_list() -> None:
    @async_generator()
    def nothing() -> Gen:
        return
        yield

    assert list_of_generator(nothing()) == []


def test_values_without_waiting_come_as_computed_futures() -> None:
    @async_generator()
    def plain() -> Gen:
        yield Value("a")
        yield Value(None)

    futures = list(plain())
    assert [f.is_computed() for f in futures] == [True, True]
    assert [f.value() for f in futures] == ["a", None]


def test_waiting_after_the_last_value_ends_with_end_of_generator(kv: KeyKind) -> None:
    @async_generator()
    def trailing() -> Gen:
        yield Value(1)
        yield kv.get("cleanup")

    generator = trailing()
    first = next(generator)
    assert first.value() == 1
    last = next(generator)
    assert last.value() is END_OF_GENERATOR
    with pytest.raises(StopIteration):
        next(generator)
    assert generator.is_stopped
    assert list_of_generator(trailing()) == [1]


def test_a_generator_runs_only_when_advanced() -> None:
    log: list[str] = []

    @async_generator()
    def lazy() -> Gen:
        log.append("started")
        yield Value(1)
        log.append("resumed")
        yield Value(2)

    generator = lazy()
    assert log == []
    next(generator)
    assert log == ["started"]
    next(generator)
    assert log == ["started", "resumed"]


def test_a_consumer_iterates_by_yielding_each_future(kv: KeyKind) -> None:
    values = numbered(kv)

    @asynq()
    def total() -> Gen:
        result = 0
        for task in values(3):
            value = yield task
            if value is END_OF_GENERATOR:
                continue
            result += value
        return result

    assert total() == 30


def test_the_generator_can_wait_on_lists_tuples_and_dicts_of_futures(kv: KeyKind) -> None:
    @async_generator()
    def shapes() -> Gen:
        pair = yield kv.get("a"), kv.get("b")
        listed = yield [kv.get("c")]
        mapping = yield {"d": kv.get("d")}
        yield Value((pair[0][1], listed[0][1], mapping["d"][1]))

    assert list_of_generator(shapes()) == [("a", "c", "d")]
    assert kv.flushes == [["a", "b"], ["c"], ["d"]]


def test_send_resumes_the_generator_with_a_value() -> None:
    @async_generator()
    def echo() -> Gen:
        received = yield Value("ready")
        yield Value(f"got {received}")

    generator = echo()
    assert generator.send(None) == "ready"

    @asynq()
    def consumer() -> Gen:
        return (yield generator.send.asynq("ping"))

    assert consumer() == "got ping"


def test_an_error_of_a_waited_future_is_thrown_into_the_generator_at_its_yield(
    kv: KeyKind,
) -> None:
    @asynq()
    def broken() -> None:
        raise KeyError("gone")

    @async_generator()
    def resilient() -> Gen:
        try:
            yield broken.asynq()
        except KeyError:
            yield Value("recovered")
        value = yield kv.get("next")
        yield Value(value[1])

    assert list_of_generator(resilient()) == ["recovered", "next"]


def test_an_error_raised_by_the_generator_reaches_the_consumer_and_stops_it(
    kv: KeyKind,
) -> None:
    @async_generator()
    def failing() -> Gen:
        yield Value(1)
        yield kv.get("x")
        raise ValueError("generator failed")

    generator = failing()
    with pytest.raises(ValueError, match="generator failed"):
        list_of_generator(generator)
    assert generator.is_stopped
    with pytest.raises(StopIteration):
        next(generator)


def test_an_error_before_the_first_wait_surfaces_at_the_consumers_yield() -> None:
    @async_generator()
    def failing_at_once() -> Gen:
        raise LookupError("immediately")
        yield

    @asynq()
    def consumer() -> Gen:
        generator = failing_at_once()
        task = next(generator)  # no exception here
        try:
            yield task
        except LookupError as error:
            return f"caught {error}"
        return "no error"

    assert consumer() == "caught immediately"


def test_async_generator_works_on_methods_and_keeps_the_function_name(kv: KeyKind) -> None:
    class Feed:
        def __init__(self, keys: list[str]) -> None:
            self.keys = keys

        @async_generator()
        def items(self) -> Gen:
            for key in self.keys:
                value = yield kv.get(key)
                yield Value(value[1])

    assert list_of_generator(Feed(["a", "b"]).items()) == ["a", "b"]
    assert Feed.items.__name__ == "items"
    assert isinstance(Feed([]).items(), AsyncGenerator)
    assert repr(Value(3)) == "<Value: 3>"
    assert repr(END_OF_GENERATOR) == "end of generator"

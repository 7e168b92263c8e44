"""Futures: computed once, lazily, with a value or an error."""

from __future__ import annotations

import pickle

import pytest

from asynq import ConstFuture, ErrorFuture, Future, FutureBase, FutureIsAlreadyComputed, none_future


def test_a_const_future_is_computed_from_the_start() -> None:
    future = ConstFuture(3)
    assert future.is_computed()
    assert future.value() == 3
    assert future() == 3
    assert future.error() is None


def test_an_error_future_raises_its_error_on_value() -> None:
    error = KeyError("k")
    future = ErrorFuture(error)
    assert future.is_computed()
    assert future.error() is error
    with pytest.raises(KeyError) as raised:
        future.value()
    assert raised.value is error


def test_none_future_holds_none() -> None:
    assert none_future.value() is None


def test_a_value_provider_runs_once_and_only_when_asked() -> None:
    calls = []

    def provide() -> int:
        calls.append(1)
        return 42

    future = Future(provide)
    assert calls == []
    assert not future.is_computed()
    assert future.value() == 42
    assert future.value() == 42
    assert calls == [1]


def test_a_value_provider_that_raises_makes_an_error_future() -> None:
    def provide() -> int:
        raise ValueError("nope")

    future = Future(provide)
    with pytest.raises(ValueError, match="nope"):
        future.value()
    assert isinstance(future.error(), ValueError)


def test_set_value_wakes_on_computed_subscribers_once() -> None:
    future: FutureBase[int] = FutureBase()
    seen = []
    future.on_computed.subscribe(lambda f: seen.append(f.value()))
    future.set_value(5)
    assert seen == [5]
    assert future.value() == 5


def test_subscribing_to_a_computed_future_calls_back_immediately() -> None:
    future = ConstFuture("done")
    seen = []
    future.on_computed.subscribe(lambda f: seen.append(f.value()))
    assert seen == ["done"]


def test_raise_if_error_raises_only_for_failed_futures() -> None:
    ConstFuture(1).raise_if_error()
    FutureBase().raise_if_error()  # not computed: nothing to raise
    with pytest.raises(OSError):
        ErrorFuture(OSError("x")).raise_if_error()


def test_reset_unsafe_lets_a_future_be_set_again() -> None:
    future: FutureBase[int] = FutureBase()
    future.set_value(1)
    future.reset_unsafe()
    assert not future.is_computed()
    future.set_value(2)
    assert future.value() == 2


def test_a_future_is_set_only_once() -> None:
    future: FutureBase[int] = FutureBase()
    future.set_error(ValueError())
    with pytest.raises(FutureIsAlreadyComputed):
        future.set_value(1)


def test_repr_shows_the_state() -> None:
    assert repr(ConstFuture(1)) == "<ConstFuture value=1>"
    assert repr(FutureBase()) == "<FutureBase pending>"
    assert repr(ErrorFuture(KeyError("k"))) == "<ErrorFuture error=KeyError('k')>"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_const_future_pickles_with_every_protocol(protocol: int) -> None:
    copy = pickle.loads(pickle.dumps(ConstFuture([1, "two"]), protocol))
    assert type(copy) is ConstFuture
    assert copy.value() == [1, "two"]
    assert copy.is_computed()


def test_a_const_future_subscribed_to_keeps_its_type_value_and_repr() -> None:
    future = ConstFuture([1])
    future.on_computed.subscribe(lambda f: None)
    assert isinstance(future, ConstFuture)
    assert future.is_computed()
    assert future.value() == [1]
    assert repr(future) == "<ConstFuture value=[1]>"
    assert type(pickle.loads(pickle.dumps(future))) is ConstFuture


def test_a_reset_const_future_tells_its_subscribers_about_its_new_value() -> None:
    future = ConstFuture(1)
    seen = []
    future.on_computed.subscribe(lambda f: seen.append(f.value()))
    future.reset_unsafe()
    assert not future.is_computed()
    assert repr(future) == "<ConstFuture pending>"
    future.set_value(2)
    assert seen == [1, 2]
    with pytest.raises(FutureIsAlreadyComputed):
        future.set_value(3)


def test_a_reset_const_future_can_fail() -> None:
    future = ConstFuture(1)
    future.reset_unsafe()
    future.set_error(OSError("late"))
    assert repr(future) == "<ConstFuture error=OSError('late')>"
    with pytest.raises(OSError, match="late"):
        future.value()


def test_a_subclass_of_const_future_starts_computed_and_can_be_reset() -> None:
    class Labelled(ConstFuture[int]):
        __slots__ = ("label",)

        def __init__(self, value: int, label: str) -> None:
            super().__init__(value)
            self.label = label

    future = Labelled(4, "four")
    assert future.is_computed() and future.error() is None
    assert future.value() == 4 and future.label == "four"
    future.reset_unsafe()
    assert not future.is_computed()
    future.set_value(5)
    assert type(future) is Labelled and future.value() == 5

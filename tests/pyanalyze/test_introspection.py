"""What static checkers read from asynq objects at runtime, as asynq 1.6's objects expose it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asynq import (
    AsyncTask,
    ConstFuture,
    FutureBase,
    async_proxy,
    asynq,
    is_async_fn,
    is_pure_async_fn,
)
from asynq.decorators import AsyncDecorator


@asynq()
def double(x: int) -> Any:
    yield None
    return x * 2


@asynq()
def plain_double(x: int) -> int:
    return x * 2


@async_proxy()
def proxied(x: int) -> FutureBase[int]:
    return ConstFuture(x)


@async_proxy(pure=True)
def pure_proxied(x: int) -> FutureBase[int]:
    return ConstFuture(x + 1)


class Counter:
    @asynq()
    def add(self, x: int) -> int:
        return x + 1

    @classmethod
    @asynq()
    def make(cls) -> Any:
        return cls


class _OptionTask(AsyncTask[Any]):
    """A task class that takes an option, which ``@asynq(cls=..., option=...)`` passes on."""

    def __init__(self, *args: Any, extra_option: object = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


@pytest.mark.parametrize("fn", [double, plain_double, proxied], ids=lambda fn: fn.__name__)
def test_dot_asynq_is_a_method_named_asynq_bound_to_the_asynq_function(fn: Any) -> None:
    bound = fn.asynq
    assert bound.__self__ is fn
    assert bound.__name__ == "asynq"
    assert is_async_fn(bound.__self__)
    assert not is_pure_async_fn(bound.__self__)


def test_dot_asynq_with_task_options_is_a_bound_method_too() -> None:
    decorated = asynq(cls=_OptionTask, extra_option=1)(plain_double.fn)
    assert decorated.asynq.__self__ is decorated
    assert decorated.asynq.__name__ == "asynq"
    assert decorated.asynq(4).value() == 8


def test_dot_asynq_takes_any_argument_name_the_function_takes() -> None:
    @asynq()
    def echo(**kwargs: Any) -> Any:
        return kwargs

    assert echo.asynq(_decorator=1, self=2).value() == {"_decorator": 1, "self": 2}


def test_dot_asynq_of_a_method_exposes_its_decorator_and_instance() -> None:
    counter = Counter()
    bound = counter.add.asynq
    assert bound.__name__ == "asynq"
    assert bound.__self__.decorator is Counter.__dict__["add"]
    assert bound.__self__.instance is counter
    assert isinstance(bound.__self__.decorator, AsyncDecorator)
    assert bound(1).value() == 2


def test_dot_asynq_of_a_classmethod_calls_it_with_the_class() -> None:
    assert Counter.make.asynq().value() is Counter
    assert Counter.make() is Counter


def test_proxies_report_futurebase_as_their_task_class() -> None:
    assert proxied.task_cls is FutureBase
    assert pure_proxied.task_cls is FutureBase
    assert double.task_cls is AsyncTask


def test_a_pure_proxy_awaited_from_asyncio_gives_the_value_of_its_future() -> None:
    assert asyncio.run(pure_proxied.asyncio(1)) == 2

"""In asyncio mode, functions declared with asyncio_fn run it, and awaitables can be yielded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import asynq
from asynq import ConstFuture
from asynq.asynq_to_async import is_asyncio_mode, resolve_awaitables
from asynq.scheduler import get_active_task
from asynq.tools import AsyncTimer, DeduplicateDecorator, deduplicate


async def native_double(x: int) -> str:
    await asyncio.sleep(0)
    return f"native {2 * x}"


@asynq.asynq(asyncio_fn=native_double)
def double(x: int) -> str:
    return f"generator {2 * x}"


async def native_proxied(x: int) -> str:
    return f"native proxy {x}"


@asynq.async_proxy(asyncio_fn=native_proxied)
def proxied(x: int) -> Any:
    return ConstFuture(f"proxy {x}")


@asynq.asynq()
def caller(x: int) -> Any:
    return (yield double.asynq(x), proxied.asynq(x))


def test_outside_asyncio_mode_the_generator_and_the_proxy_body_run() -> None:
    assert caller(1) == ("generator 2", "proxy 1")


def test_in_asyncio_mode_asynq_of_a_function_with_asyncio_fn_runs_the_coroutine() -> None:
    assert asyncio.run(caller.asyncio(1)) == ("native 2", "native proxy 1")


def test_a_bound_method_with_asyncio_fn_gets_the_instance_in_asyncio_mode() -> None:
    async def native_total(self: Any, x: int) -> int:
        return self.base + x + 1000

    class Account:
        base = 5

        @asynq.asynq(asyncio_fn=native_total)
        def total(self, x: int) -> int:
            return self.base + x

        @asynq.asynq()
        def report(self, x: int) -> Any:
            return (yield self.total.asynq(x))

    assert Account().report(1) == 6
    assert asyncio.run(Account().report.asyncio(1)) == 1006


def test_awaitables_may_be_yielded_in_asyncio_mode_alone_or_in_containers() -> None:
    async def three() -> int:
        await asyncio.sleep(0)
        return 3

    @asynq.asynq()
    def mixed() -> Any:
        alone = yield three()
        together = yield {"list": [three(), ConstFuture(4)], "tuple": (three(),)}
        return alone, together

    assert asyncio.run(mixed.asyncio()) == (3, {"list": [3, 4], "tuple": (3,)})


def test_outside_asyncio_mode_a_yielded_coroutine_is_still_a_type_error() -> None:
    async def three() -> int:
        return 3

    @asynq.asynq()
    def wrong() -> Any:
        return (yield three())

    with pytest.raises(TypeError, match="yielded a coroutine object"):
        wrong()


def test_a_deduplicated_function_with_asyncio_fn_runs_it_from_asyncio() -> None:
    @deduplicate()
    @asynq.asynq(asyncio_fn=native_double)
    def deduplicated(x: int) -> str:
        return f"generator {2 * x}"

    assert isinstance(deduplicated, DeduplicateDecorator)
    assert deduplicated(2) == "generator 4"
    assert asyncio.run(deduplicated.asyncio(2)) == "native 4"


def test_an_async_timer_in_asyncio_mode_is_not_attached_to_the_task() -> None:
    attached: dict[str, bool] = {}

    @asynq.asynq()
    def timed() -> Any:
        task = get_active_task()
        assert task is not None
        with AsyncTimer() as timer:
            attached[str(is_asyncio_mode())] = timer in task._contexts
            yield None
        return timer.total_time

    timed()
    asyncio.run(timed.asyncio())
    assert attached == {"False": True, "True": False}


def test_resolve_awaitables_awaits_everything_in_a_nested_value() -> None:
    async def four() -> int:
        return 4

    value = {"a": [double.asynq(1), four()], "b": (ConstFuture(3), "plain")}
    assert asyncio.run(resolve_awaitables(value)) == {
        "a": ["generator 2", 4],
        "b": (3, "plain"),
    }

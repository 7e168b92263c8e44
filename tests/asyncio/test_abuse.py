"""Every user-facing error of the asyncio interop, pinned: what was received, what was expected,
and the fix."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

import asynq
from asynq import FutureBase
from asynq.asyncio_interop import AsyncioModeError, check_sync_call, from_awaitable
from asynq.scheduler import AsyncTaskError


@asynq.asynq()
def leaf(x: int) -> int:
    return x + 1


@asynq.asynq()
def calls_leaf_synchronously(x: int) -> int:
    return leaf(x)  # the mistake: should be `yield leaf.asynq(x)`


class Model:
    @asynq.asynq()
    def score(self) -> int:
        return 1


SYNC_CALL_MESSAGE = (
    "{name} was called synchronously in asyncio mode (asynq code running for an "
    "`await ....asyncio(...)`); a synchronous call would block the event loop and could not batch "
    "with the work around it. Inside an @asynq() function write `yield {name}.asynq(...)`; in a "
    "coroutine write `await {name}.asyncio(...)`"
)


def test_a_synchronous_call_in_asyncio_mode_names_the_function_and_what_to_write_instead(
    sync_call_hook: None,
) -> None:
    async def main() -> int:
        value: int = await calls_leaf_synchronously.asyncio(1)
        return value

    with pytest.raises(AsyncioModeError) as caught:
        asyncio.run(main())

    assert str(caught.value) == SYNC_CALL_MESSAGE.format(name="leaf")
    assert isinstance(caught.value, RuntimeError)
    assert calls_leaf_synchronously(1) == 2  # outside asyncio mode the same call is fine


def test_the_synchronous_call_check_names_a_method_by_its_class() -> None:
    @asynq.asynq()
    def check_inside() -> None:
        check_sync_call(Model().score)

    async def main() -> None:
        await check_inside.asyncio()

    with pytest.raises(AsyncioModeError) as caught:
        asyncio.run(main())

    assert str(caught.value) == SYNC_CALL_MESSAGE.format(name="Model.score")


def test_the_synchronous_call_check_also_names_the_function_of_a_task() -> None:
    @asynq.asynq()
    def check_inside() -> None:
        check_sync_call(leaf.asynq(1))

    async def main() -> None:
        await check_inside.asyncio()

    with pytest.raises(AsyncioModeError) as caught:
        asyncio.run(main())

    assert str(caught.value) == SYNC_CALL_MESSAGE.format(name="leaf")


def test_from_awaitable_outside_asyncio_mode_explains_where_it_works() -> None:
    async def native() -> int:
        return 1

    expected_tail = (
        " outside asyncio mode; it only works in asynq code run by `await f.asyncio(...)`, where "
        "an event loop drives the tasks. In synchronous code, compute the value before calling "
        "the asynq function; in a coroutine, await it directly"
    )
    with pytest.raises(AsyncioModeError) as caught:
        from_awaitable(native())  # the coroutine is closed, so no "never awaited" warning
    assert str(caught.value).startswith("from_awaitable() got <coroutine object ")
    assert str(caught.value).endswith(expected_tail)

    async def in_a_coroutine() -> None:
        from_awaitable(asyncio.sleep(0))

    with pytest.raises(AsyncioModeError) as caught:
        asyncio.run(in_a_coroutine())
    assert str(caught.value).endswith(expected_tail)


def test_from_awaitable_of_something_that_is_not_awaitable_suggests_const_future() -> None:
    @asynq.asynq()
    def wrong() -> Generator[Any, Any, Any]:
        return (yield from_awaitable(5))  # type: ignore[arg-type]

    async def main() -> Any:
        return await wrong.asyncio()

    with pytest.raises(TypeError) as caught:
        asyncio.run(main())

    assert str(caught.value) == (
        "from_awaitable() expects an awaitable (a coroutine, task or future), got int: 5; "
        "for a plain value use ConstFuture(value)"
    )


def test_awaiting_work_that_can_never_finish_raises_instead_of_hanging() -> None:
    never_set: FutureBase[int] = FutureBase()

    @asynq.asynq()
    def stuck() -> Generator[Any, Any, int]:
        return (yield never_set)

    root = stuck.asynq()

    async def main() -> None:
        await asynq.asyncio_interop.resolve_in_asyncio(root)

    with pytest.raises(AsyncTaskError) as caught:
        asyncio.run(main())

    assert str(caught.value) == (
        f"{root!r}, awaited from asyncio, can never be computed: no task can run, no batch is "
        "pending and no awaitable is in flight. Either tasks wait on each other in a cycle, or on "
        "a future that only outside code sets (set its value before awaiting)"
    )
    assert repr(root).endswith(".stuck() waiting on 1 future(s)>")

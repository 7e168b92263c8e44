"""Cancelling a coroutine that awaits asynq work leaves nothing pending: no task waiting forever,
no batch left in the scheduler, no driver left running."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import asynq
from asynq import asyncio_interop, decorators, get_scheduler
from asynq.asyncio_interop import drain, from_awaitable, resolve_in_asyncio
from asynq.memcache import MemcachedServer
from asynq.tools import deduplicate

CLEAN = "<TaskScheduler active=None ready=0 batches=0>"


def assert_nothing_pending() -> None:
    assert repr(get_scheduler()) == CLEAN
    assert asyncio_interop._drivers == {}
    assert decorators._sync_call_check is None  # synchronous calls are no longer vetted


def slow_reads(memcached: MemcachedServer, multi_gets: Any) -> Any:
    memcached.flush_all()
    reads = multi_gets(delay=0.1)
    reads.seed({"a": 1, "b": 2, "c": 3, "d": 4})
    return reads


async def until_flushing(reads: Any, count: int = 1) -> None:
    while len(reads.rounds) < count:
        await asyncio.sleep(0.001)


def test_cancelling_the_only_awaiting_task_during_a_flush_cancels_the_rest_of_its_work(
    memcached: MemcachedServer, multi_gets: Any
) -> None:
    reads = slow_reads(memcached, multi_gets)

    @asynq.asynq()
    def two_reads() -> Generator[Any, Any, int]:
        first = yield reads.get("a")
        second = yield reads.get("b")
        return first + second  # type: ignore[no-any-return]

    root = two_reads.asynq()

    async def main() -> bool:
        waiter = asyncio.create_task(resolve_in_asyncio(root))
        await until_flushing(reads)
        waiter.cancel()
        try:
            await waiter
        except asyncio.CancelledError:
            cancelled = True
        else:
            cancelled = False
        await drain()
        return cancelled

    assert asyncio.run(main()) is True
    assert reads.rounds == [["a"]]  # the in-flight multi-get ends; the next one is never sent
    assert root.is_computed()
    assert isinstance(root.error(), asyncio.CancelledError)
    assert_nothing_pending()


def test_cancelling_one_of_two_awaiting_tasks_does_not_disturb_the_other(
    memcached: MemcachedServer, multi_gets: Any
) -> None:
    reads = slow_reads(memcached, multi_gets)

    @asynq.asynq()
    def two_reads(first: str, second: str) -> Generator[Any, Any, int]:
        a = yield reads.get(first)
        b = yield reads.get(second)
        return a + b  # type: ignore[no-any-return]

    abandoned = two_reads.asynq("a", "b")

    async def main() -> int:
        doomed = asyncio.create_task(resolve_in_asyncio(abandoned))
        survivor = asyncio.create_task(two_reads.asyncio("c", "d"))
        await until_flushing(reads)
        doomed.cancel()
        value: int = await survivor
        await drain()
        return value

    assert asyncio.run(main()) == 7
    # Work shared with a call that is still awaited goes on, in the same rounds.
    assert reads.rounds == [["a", "c"], ["b", "d"]]
    assert abandoned.value() == 3
    assert_nothing_pending()


def test_a_call_cancelled_before_the_driver_admits_it_never_starts(
    memcached: MemcachedServer, multi_gets: Any
) -> None:
    reads = slow_reads(memcached, multi_gets)

    @asynq.asynq()
    def read(key: str) -> Generator[Any, Any, int]:
        return (yield reads.get(key))

    root = read.asynq("a")

    async def main() -> None:
        waiter = asyncio.create_task(resolve_in_asyncio(root))
        await asyncio.sleep(0)  # the waiter registers its root; the driver has not run yet
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        await drain()

    asyncio.run(main())

    assert reads.rounds == []
    assert not root.is_computed()
    assert "not started" in repr(root)
    assert_nothing_pending()


def test_a_deduplicated_task_abandoned_by_cancellation_is_not_handed_to_later_callers(
    memcached: MemcachedServer, multi_gets: Any
) -> None:
    reads = slow_reads(memcached, multi_gets)
    runs: list[str] = []

    @deduplicate()
    @asynq.asynq()
    def total(first: str, second: str) -> Generator[Any, Any, int]:
        runs.append(first)
        a = yield reads.get(first)
        b = yield reads.get(second)
        return a + b  # type: ignore[no-any-return]

    async def main() -> int:
        waiter = asyncio.create_task(total.asyncio("a", "b"))
        await until_flushing(reads)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        await drain()
        value: int = await total.asyncio("a", "b")
        return value

    assert asyncio.run(main()) == 3
    assert runs == ["a", "a"]
    assert reads.rounds == [["a"], ["a"], ["b"]]
    assert_nothing_pending()


def test_an_abandoned_native_awaitable_is_cancelled_too() -> None:
    log: list[str] = []

    async def native() -> None:
        log.append("native started")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            log.append("native cancelled")
            raise

    @asynq.asynq()
    def waits() -> Generator[Any, Any, None]:
        yield from_awaitable(native())

    async def main() -> None:
        waiter = asyncio.create_task(waits.asyncio())
        while not log:
            await asyncio.sleep(0.001)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        await drain()
        await asyncio.sleep(0)  # the native task handles its cancellation

    asyncio.run(main())

    assert log == ["native started", "native cancelled"]
    assert_nothing_pending()


def test_an_event_loop_shut_down_with_asynq_work_in_flight_leaves_nothing_pending(
    memcached: MemcachedServer, multi_gets: Any
) -> None:
    reads = slow_reads(memcached, multi_gets)

    @asynq.asynq()
    def two_reads() -> Generator[Any, Any, int]:
        a = yield reads.get("a")
        b = yield reads.get("b")
        return a + b  # type: ignore[no-any-return]

    background: list[asyncio.Task[int]] = []

    async def main() -> None:
        background.append(asyncio.create_task(two_reads.asyncio()))
        await until_flushing(reads)
        # returning now makes asyncio.run cancel the background task and the driver

    asyncio.run(main())

    assert background[0].cancelled()
    assert reads.rounds == [["a"]]
    assert_nothing_pending()
    assert two_reads() == 3  # the thread's scheduler is usable synchronously afterwards

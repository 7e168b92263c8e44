"""Asynq work awaited from asyncio batches across every coroutine of the event loop: one multi-get
per level of the graph, flushed off the loop thread while the loop keeps running."""

from __future__ import annotations

import asyncio
import threading
import traceback
from collections.abc import Generator
from typing import Any

import asynq
from asynq import ConstFuture, Future, async_proxy, get_scheduler
from asynq.asyncio_interop import drain, resolve_in_asyncio
from asynq.generator import Value, async_generator, list_of_generator
from asynq.memcache import MemcacheClient, MemcachedServer
from asynq.tools import amap, deduplicate

ANSWER_IDS = list(range(12))


def answer_keys(aids: list[int]) -> list[str]:
    return [f"answer:{aid}" for aid in aids]


def test_a_concurrent_gather_of_many_calls_costs_one_multi_get_per_level_of_the_graph(
    blog: Any,
) -> None:
    async def handler() -> list[str]:
        return await asyncio.gather(*[blog.render_answer.asyncio(aid) for aid in ANSWER_IDS])

    pages = asyncio.run(handler())

    assert pages == [blog.expected_render(aid) for aid in ANSWER_IDS]
    assert len(blog.reads.rounds) == 2
    assert blog.reads.rounds[0] == answer_keys(ANSWER_IDS)
    assert sorted(blog.reads.rounds[1]) == blog.user_keys(ANSWER_IDS)
    assert get_scheduler().stats.rounds == 2


def test_calls_of_different_depths_share_their_rounds(blog: Any) -> None:
    shallow, deep = [0, 1, 2], [3, 4]

    async def handler() -> tuple[list[Any], list[Any]]:
        names = asyncio.gather(*[blog.upvoter_names.asyncio(aid) for aid in shallow])
        authors = asyncio.gather(*[blog.comment_authors.asyncio(aid) for aid in deep])
        return await asyncio.gather(names, authors)

    names, authors = asyncio.run(handler())

    assert names == [
        [blog.user_name(uid) for uid in blog.answer_record(aid)["upvoters"]] for aid in shallow
    ]
    comment_ids = [cid for aid in deep for cid in blog.answer_record(aid)["comments"]]
    assert authors == [
        [blog.user_name(cid * 3 % 40) for cid in blog.answer_record(aid)["comments"]]
        for aid in deep
    ]
    upvoters = {uid for aid in shallow for uid in blog.answer_record(aid)["upvoters"]}
    assert len(blog.reads.rounds) == 3
    assert blog.reads.rounds[0] == answer_keys(shallow + deep)
    assert sorted(blog.reads.rounds[1]) == sorted(
        [f"user:{uid}" for uid in upvoters] + [f"comment:{cid}" for cid in comment_ids]
    )
    assert sorted(blog.reads.rounds[2]) == sorted({f"user:{cid * 3 % 40}" for cid in comment_ids})


def test_coroutines_that_await_one_level_at_a_time_still_share_each_round(blog: Any) -> None:
    async def handler(aid: int) -> str:
        answer = await blog.answer.asyncio(aid)
        name: str = await blog.name_of.asyncio(answer["author"])
        return name

    async def main() -> list[str]:
        return await asyncio.gather(*[handler(aid) for aid in range(8)])

    names = asyncio.run(main())

    assert names == [blog.user_name(blog.answer_record(aid)["author"]) for aid in range(8)]
    assert blog.reads.rounds == [
        answer_keys(list(range(8))),
        [f"user:{blog.answer_record(aid)['author']}" for aid in range(8)],
    ]


def test_a_coroutine_that_starts_while_a_flush_runs_joins_the_next_round(
    memcached: MemcachedServer, multi_gets: Any
) -> None:
    memcached.flush_all()
    reads = multi_gets(delay=0.05)
    reads.seed({"a": 1, "b": 2, "c": 3})

    @asynq.asynq()
    def read_then(key: str, then: str) -> Generator[Any, Any, list[int]]:
        first = yield reads.get(key)
        second = yield reads.get(then)
        return [first, second]

    async def late() -> list[int]:
        await asyncio.sleep(0.01)  # while the first multi-get is in flight
        value: list[int] = await read_then.asyncio("b", "c")
        return value

    async def main() -> list[list[int]]:
        return await asyncio.gather(read_then.asyncio("a", "c"), late())

    assert asyncio.run(main()) == [[1, 3], [2, 3]]
    assert reads.rounds == [["a"], ["c", "b"], ["c"]]


def test_a_flush_runs_on_a_flush_thread_not_on_the_event_loop_thread(blog: Any) -> None:
    async def main() -> str:
        value: str = await blog.name_of.asyncio(3)
        return value

    assert asyncio.run(main()) == "user3"
    assert len(blog.reads.flush_threads) == 1
    assert blog.reads.flush_threads[0].startswith("asynq-flush")
    assert blog.reads.flush_threads[0] != threading.current_thread().name


def test_the_event_loop_keeps_serving_other_coroutines_during_a_flush(
    memcached: MemcachedServer, multi_gets: Any
) -> None:
    memcached.flush_all()
    reads = multi_gets(delay=0.2)  # every multi-get blocks its thread for 200 ms
    reads.seed({"slow": "value"})

    @asynq.asynq()
    def fetch(key: str) -> Generator[Any, Any, str]:
        return (yield reads.get(key))

    async def main() -> tuple[str, int]:
        beats = 0
        stop = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal beats
            while not stop.is_set():
                beats += 1
                await asyncio.sleep(0.005)

        beating = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        before = beats
        value: str = await fetch.asyncio("slow")
        during = beats - before
        stop.set()
        await beating
        return value, during

    value, beats_during_flush = asyncio.run(main())

    assert value == "value"
    assert reads.rounds == [["slow"]]
    # A blocked loop would beat at most once; a free one beats about 40 times in 200 ms.
    assert beats_during_flush >= 10


def test_every_awaiting_coroutine_gets_its_own_value_or_error(blog: Any) -> None:
    async def main() -> list[Any]:
        calls = [blog.render_answer.asyncio(aid) for aid in (1, 999, 2)]  # 999 does not exist
        return await asyncio.gather(*calls, return_exceptions=True)

    first, missing, second = asyncio.run(main())

    assert first == blog.expected_render(1)
    assert second == blog.expected_render(2)
    assert isinstance(missing, TypeError)
    assert str(missing) == "'NoneType' object is not subscriptable"
    assert len(blog.reads.rounds) == 2


def test_an_error_reaches_the_awaiting_coroutine_with_the_asynq_frames_in_its_traceback(
    blog: Any,
) -> None:
    async def main() -> None:
        await blog.upvoter_names.asyncio(999)

    try:
        asyncio.run(main())
    except TypeError as error:
        frames = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
    else:
        raise AssertionError("expected a TypeError")
    assert frames[-3:] == ["main", "resolve_in_asyncio", "upvoter_names"]


def test_asyncio_fn_supplies_the_native_implementation_of_dot_asyncio() -> None:
    async def native(x: int) -> str:
        await asyncio.sleep(0)
        return f"native {x}"

    @asynq.asynq(asyncio_fn=native)
    def double(x: int) -> str:
        return f"asynq {x}"

    async def main() -> str:
        value: str = await double.asyncio(2)
        return value

    assert asyncio.run(main()) == "native 2"
    assert double(2) == "asynq 2"


def test_proxies_and_plain_futures_can_be_awaited_and_proxies_batch_with_the_rest(
    blog: Any,
) -> None:
    @async_proxy()
    def raw(key: str) -> Any:
        return blog.reads.get(key)

    async def main() -> list[Any]:
        return await asyncio.gather(
            raw.asyncio("user:1"),
            blog.name_of.asyncio(2),
            resolve_in_asyncio(ConstFuture(5)),
            resolve_in_asyncio(Future(lambda: 6)),
        )

    assert asyncio.run(main()) == [{"name": "user1"}, "user2", 5, 6]
    assert blog.reads.rounds == [["user:1", "user:2"]]


def test_tools_and_generators_work_when_awaited(blog: Any) -> None:
    @async_generator()
    def upvoter_names(aid: int) -> Generator[Any, Any, None]:
        answer = yield blog.answer.asynq(aid)
        for uid in answer["upvoters"]:
            name = yield blog.name_of.asynq(uid)
            yield Value(name)

    async def main() -> tuple[list[str], list[str]]:
        return await asyncio.gather(
            amap.asyncio(blog.name_of, [1, 2, 3]),
            list_of_generator.asyncio(upvoter_names(0)),
        )

    names, generated = asyncio.run(main())

    assert names == ["user1", "user2", "user3"]
    assert generated == [blog.user_name(uid) for uid in blog.answer_record(0)["upvoters"]]


def test_concurrent_awaits_of_a_deduplicated_function_share_one_task(blog: Any) -> None:
    runs: list[int] = []

    @deduplicate()
    @asynq.asynq()
    def expensive(uid: int) -> Generator[Any, Any, str]:
        runs.append(uid)
        return (yield blog.name_of.asynq(uid))

    async def main() -> list[str]:
        return await asyncio.gather(*[expensive.asyncio(7) for _ in range(5)])

    assert asyncio.run(main()) == ["user7"] * 5
    assert runs == [7]
    assert blog.reads.rounds == [["user:7"]]


def test_the_driver_leaves_nothing_behind_once_nothing_is_awaited(blog: Any) -> None:
    async def main() -> str:
        pages = await asyncio.gather(*[blog.render_answer.asyncio(aid) for aid in range(3)])
        await drain()
        return pages[0]

    assert asyncio.run(main()) == blog.expected_render(0)
    assert repr(get_scheduler()) == "<TaskScheduler active=None ready=0 batches=0>"
    from asynq import asyncio_interop

    assert asyncio_interop._drivers == {}


def test_the_memcache_client_batches_cached_functions_across_coroutines(
    memcached: MemcachedServer,
) -> None:
    memcached.flush_all()
    mc = MemcacheClient(memcached.address)
    trips: list[list[str]] = []
    mc.on_round_trip.subscribe(lambda trip: trips.append(sorted(trip.keys)))
    database = {uid: {"name": f"user{uid}", "friend": (uid + 1) % 6} for uid in range(6)}
    computed: list[int] = []

    @mc.cached("user", ttl=60)
    def user(uid: int) -> dict[str, Any]:
        computed.append(uid)
        return database[uid]

    @asynq.asynq()
    def friend_name(uid: int) -> Generator[Any, Any, str]:
        me = yield user.asynq(uid)
        friend = yield user.asynq(me["friend"])
        return friend["name"]  # type: ignore[no-any-return]

    async def main() -> list[str]:
        return await asyncio.gather(*[friend_name.asyncio(uid) for uid in (0, 2, 4)])

    try:
        assert asyncio.run(main()) == ["user1", "user3", "user5"]
        assert sorted(computed) == [0, 1, 2, 3, 4, 5]
        first_pass = list(trips)
        # Write-backs leave with noreply on the loop thread's connection and reads on the flush
        # thread's: one synchronous read on the loop thread's connection orders them.
        assert mc.get("user:0") == database[0]
        computed.clear()
        trips.clear()
        assert asyncio.run(main()) == ["user1", "user3", "user5"]  # served from memcached
    finally:
        mc.close()

    assert computed == []
    assert first_pass == [["user:0", "user:2", "user:4"], ["user:1", "user:3", "user:5"]]
    assert trips == first_pass


def test_every_kind_of_asynq_callable_can_be_awaited_and_they_batch_together(blog: Any) -> None:
    from asynq.tools import AsyncEventHook, alru_cache

    @asynq.asynq(pure=True)
    def pure_name(uid: int) -> Generator[Any, Any, str]:
        return (yield blog.name_of.asynq(uid))

    @async_proxy()
    def proxied_name(uid: int) -> Any:
        return blog.name_of.asynq(uid)

    @alru_cache()
    @asynq.asynq()
    def cached_name(uid: int) -> Generator[Any, Any, str]:
        return (yield blog.name_of.asynq(uid))

    class Profile:
        def __init__(self, uid: int) -> None:
            self.uid = uid

        @asynq.asynq()
        def name(self) -> Generator[Any, Any, str]:
            return (yield blog.name_of.asynq(self.uid))

        @classmethod
        @asynq.asynq()
        def describe(cls, uid: int) -> Generator[Any, Any, str]:
            return f"{cls.__name__} of {(yield blog.name_of.asynq(uid))}"

    logged: list[str] = []

    @asynq.asynq()
    def log_name(uid: int) -> Generator[Any, Any, None]:
        logged.append((yield blog.name_of.asynq(uid)))

    hook = AsyncEventHook([log_name])

    async def main() -> list[Any]:
        return await asyncio.gather(
            pure_name.asyncio(1),
            proxied_name.asyncio(2),
            cached_name.asyncio(3),
            Profile(4).name.asyncio(),
            Profile.describe.asyncio(5),
            hook.trigger.asyncio(6),
        )

    assert asyncio.run(main()) == ["user1", "user2", "user3", "user4", "Profile of user5", None]
    assert logged == ["user6"]
    assert blog.reads.rounds == [[f"user:{uid}" for uid in range(1, 7)]]


def test_a_future_that_outside_code_sets_can_be_awaited_from_a_coroutine_or_a_thread() -> None:
    from asynq import FutureBase

    by_coroutine: FutureBase[int] = FutureBase()
    by_thread: FutureBase[int] = FutureBase()

    async def main() -> list[int]:
        async def set_later() -> None:
            await asyncio.sleep(0.001)
            by_coroutine.set_value(1)
            threading.Thread(target=by_thread.set_value, args=(2,)).start()

        values = await asyncio.gather(
            resolve_in_asyncio(by_coroutine), resolve_in_asyncio(by_thread), set_later()
        )
        return values[:2]

    assert asyncio.run(main()) == [1, 2]


def test_run_on_flush_thread_runs_a_call_on_the_thread_that_flushes_the_loops_batches() -> None:
    from asynq.asyncio_interop import run_on_flush_thread
    from asynq.loaders import loader

    threads: list[str] = []

    @loader()
    def load(keys: list[int]) -> list[int]:
        threads.append(threading.current_thread().name)
        return keys

    def where(x: int) -> tuple[str, int]:
        return threading.current_thread().name, x

    async def main() -> Any:
        await load.asyncio(1)
        return await run_on_flush_thread(where, 2)

    name, value = asyncio.run(main())
    assert value == 2 and name == threads[0] and name.startswith("asynq-flush")

"""The blog page driven from asyncio: asynq's ``.asyncio()`` against aiodataloader, side by side.

    python benchmarks/asyncio_blog.py [--repeat 15]

A page shows 200 answers and the names of their 50 upvoters each, read from a real memcached
(warm cache). Every variant is one ``asyncio.gather`` of a coroutine per answer, on one event loop:

- by hand: one pymemcache ``get_many`` per level, no framework (the floor);
- aiodataloader: two ``DataLoader``s (new ones per page, as per request) whose batch functions
  call pymemcache ``get_many``;
- asynq: ``get_upvoter_names.asyncio(aid)`` with ``@mc.cached`` model functions on
  ``asynq.memcache.MemcacheClient``;
- asynq, raw batch: the same, with a minimal ``BatchBase`` over pymemcache ``get_many`` (what the
  aiodataloader variant does), to separate the driver's cost from the memcache client's.

Variants take turns, one page at a time; the table shows medians of one run. aiodataloader is a
benchmark-only dependency (``pip install aiodataloader``). Target: asynq makes the same 2 round
trips and takes at most 1.0x aiodataloader's time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from aiodataloader import DataLoader  # noqa: E402
from pymemcache.client.base import Client  # noqa: E402

from asynq import BatchBase, BatchItemBase, asynq  # noqa: E402
from asynq.demo import build_blog, expected_page, make_data, seed_cache  # noqa: E402
from asynq.memcache import JsonSerializer, MemcacheClient, MemcachedServer  # noqa: E402

PREFIX = "abench:"

Page = Callable[[list[int]], Awaitable[list[list[str]]]]


def make_variants(mc: MemcacheClient, raw: Client, trips: list[int]) -> dict[str, Page]:
    def upvoters_key(aid: int) -> str:
        return f"{PREFIX}answers.upvoters:{aid}"

    def name_key(uid: int) -> str:
        return f"{PREFIX}users.name:{uid}"

    # -- by hand: the floor --------------------------------------------------------------------
    async def by_hand(aids: list[int]) -> list[list[str]]:
        lists = raw.get_many([upvoters_key(aid) for aid in aids])
        uid_lists = [lists[upvoters_key(aid)] for aid in aids]
        wanted = {uid for uids in uid_lists for uid in uids}
        names = raw.get_many([name_key(uid) for uid in wanted])
        trips[0] += 2
        return [[names[name_key(uid)] for uid in uids] for uids in uid_lists]

    # -- aiodataloader ---------------------------------------------------------------------------
    async def dataloader(aids: list[int]) -> list[list[str]]:
        async def load_upvoters(keys: list[int]) -> list[Any]:
            trips[0] += 1
            found = raw.get_many([upvoters_key(aid) for aid in keys])
            return [found.get(upvoters_key(aid)) for aid in keys]

        async def load_names(keys: list[int]) -> list[Any]:
            trips[0] += 1
            found = raw.get_many([name_key(uid) for uid in keys])
            return [found.get(name_key(uid)) for uid in keys]

        upvoters, names = DataLoader(load_upvoters), DataLoader(load_names)

        async def get_upvoter_names(aid: int) -> list[str]:
            uids = await upvoters.load(aid)
            return await names.load_many(uids)  # type: ignore[no-any-return]

        return await asyncio.gather(*[get_upvoter_names(aid) for aid in aids])

    # -- asynq with asynq.memcache -------------------------------------------------------------
    @mc.cached("answers.upvoters")
    def upvoters_of_answer(aid: int) -> list[int]:
        raise AssertionError("the cache is warm")

    @mc.cached("users.name")
    def name_of_user(uid: int) -> str:
        raise AssertionError("the cache is warm")

    @asynq()
    def get_upvoter_names(aid: int) -> Any:
        upvoter_uids = yield upvoters_of_answer.asynq(aid)
        return (yield [name_of_user.asynq(uid) for uid in upvoter_uids])

    async def asynq_memcache(aids: list[int]) -> list[list[str]]:
        return await asyncio.gather(*[get_upvoter_names.asyncio(aid) for aid in aids])

    # -- asynq with a minimal batch over pymemcache get_many -------------------------------------
    class GetMany(BatchBase["Read"]):
        active: GetMany

        def __init__(self) -> None:
            super().__init__()
            self.by_key: dict[str, Read] = {}

        def _try_switch_active_batch(self) -> None:
            if GetMany.active is self:
                GetMany.active = GetMany()

        def _flush(self) -> None:
            trips[0] += 1
            found = raw.get_many(list(self.by_key))
            for item in self.items:
                item.set_value(found.get(item.key))

    class Read(BatchItemBase):
        def __init__(self, key: str) -> None:
            super().__init__(GetMany.active)
            self.key = key

    GetMany.active = GetMany()

    def read(key: str) -> Read:
        batch = GetMany.active
        item = batch.by_key.get(key)
        if item is None:
            item = batch.by_key[key] = Read(key)
        return item

    @asynq()
    def raw_upvoter_names(aid: int) -> Any:
        uids = yield read(upvoters_key(aid))
        return (yield [read(name_key(uid)) for uid in uids])

    async def asynq_raw(aids: list[int]) -> list[list[str]]:
        return await asyncio.gather(*[raw_upvoter_names.asyncio(aid) for aid in aids])

    return {
        "by hand (get_many per level)": by_hand,
        "aiodataloader + pymemcache get_many": dataloader,
        "asynq .asyncio(), asynq.memcache": asynq_memcache,
        "asynq .asyncio(), BatchBase over get_many": asynq_raw,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--upvoters", type=int, default=50)
    parser.add_argument("--users", type=int, default=3000)
    args = parser.parse_args()

    data = make_data(args.answers, args.upvoters, args.users)
    distinct = len({u for a in data.answers for u in data.upvoters[a]})
    expected = expected_page(data, data.answers)
    with MemcachedServer(memory_mb=256) as server:
        mc = MemcacheClient(server.address, key_prefix=PREFIX, read_timeout=5.0)
        blog = build_blog(mc, data)
        seed_cache(blog)
        blog.close()
        raw = Client((server.host, server.port), serde=JsonSerializer(), no_delay=True, timeout=5)
        trips = [0]
        variants = make_variants(mc, raw, trips)
        times: dict[str, list[float]] = {name: [] for name in variants}
        round_trips: dict[str, int] = {}
        loop = asyncio.new_event_loop()
        try:
            for round_number in range(args.repeat + 1):  # the first round warms up
                for name, page in variants.items():
                    trips[0] = 0
                    mc.stats.reset()
                    gc.collect()
                    start = time.perf_counter()
                    result = loop.run_until_complete(page(data.answers))
                    seconds = time.perf_counter() - start
                    assert result == expected, name
                    if round_number:
                        times[name].append(seconds)
                        round_trips[name] = trips[0] + mc.stats.round_trips
        finally:
            loop.close()
            raw.close()
            mc.close()
        version = os.popen("memcached -V").read().strip()

    import aiodataloader

    floor = statistics.median(times["by hand (get_many per level)"])
    loader = statistics.median(times["aiodataloader + pymemcache get_many"])
    print(f"{version} on 127.0.0.1, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"page: asyncio.gather over {len(data.answers)} answers x {args.upvoters} upvoters, "
        f"{distinct} distinct users, warm cache; aiodataloader {aiodataloader.__version__}; "
        f"median of {args.repeat} runs, variants taking turns\n"
    )
    print("| variant | round trips | median (ms) | vs by hand | vs aiodataloader |")
    print("|---|---:|---:|---:|---:|")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"| {name} | {round_trips[name]} | {median * 1e3:.1f} | {median / floor:.2f}x "
            f"| {median / loader:.2f}x |"
        )
    ours = statistics.median(times["asynq .asyncio(), asynq.memcache"]) / loader
    print(
        f"\nasynq .asyncio(): {round_trips['asynq .asyncio(), asynq.memcache']} round trips, "
        f"{ours:.2f}x aiodataloader (target: 2 round trips and at most 1.00x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

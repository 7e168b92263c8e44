"""A cluster of 4 memcached servers against 1: what one round's flush costs.

    python benchmarks/cluster.py [--repeat 30] [--keys 3000]

asynq sends every server its part of a round's multi-get before it reads any reply, so a round
over 4 servers should cost about what it costs over 1 (target: at most 1.3x). For comparison,
pymemcache's HashClient asks the servers one after another, and plain pymemcache Client.get_many
on one server is the floor. Each configuration reads the same keys (warm), taking turns; times are
medians of the flush (asynq: ``stats.flush_seconds``; pymemcache: the get_many call).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pymemcache.client.base import Client  # noqa: E402
from pymemcache.client.hash import HashClient  # noqa: E402

from asynq import asynq  # noqa: E402
from asynq.memcache import JsonSerializer, MemcacheClient, MemcachedServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keys", type=int, default=3000)
    args = parser.parse_args()

    keys = [f"users.name:{i}" for i in range(args.keys)]
    values = {k: f"User Number {k.split(':')[1]}" for k in keys}
    servers = [MemcachedServer().start() for _ in range(5)]
    try:
        single, cluster = servers[0], servers[1:]
        ours = {
            "asynq, 1 server": MemcacheClient(single.address),
            "asynq, 4 servers": MemcacheClient([s.address for s in cluster]),
        }
        for mc in ours.values():
            for start in range(0, len(keys), 500):
                mc.set_many({k: values[k] for k in keys[start : start + 500]})
        theirs = {
            "pymemcache Client.get_many, 1 server": Client(
                (single.host, single.port), serde=JsonSerializer(), no_delay=True
            ),
            "pymemcache HashClient.get_many, 4 servers": HashClient(
                [(s.host, s.port) for s in cluster],
                serde=JsonSerializer(),
                no_delay=True,
                hasher=_ring_of(ours["asynq, 4 servers"]),
            ),
        }

        @asynq()
        def read_all(mc: MemcacheClient) -> Any:
            return (yield [mc.get.asynq(k) for k in keys])

        def run_ours(mc: MemcacheClient) -> tuple[float, int, int]:
            mc.stats.reset()
            found = read_all(mc)
            assert found == [values[k] for k in keys]
            return mc.stats.flush_seconds, mc.stats.round_trips, len(mc.servers)

        def run_theirs(client: Any) -> tuple[float, int, int]:
            started = time.perf_counter()
            found = client.get_many(keys)
            seconds = time.perf_counter() - started
            assert found == values
            servers = len(getattr(client, "clients", [None]))
            return seconds, servers, servers  # HashClient asks its servers one after another

        runners = {name: (run_ours, mc) for name, mc in ours.items()}
        runners.update({name: (run_theirs, client) for name, client in theirs.items()})
        times: dict[str, list[float]] = {name: [] for name in runners}
        shape: dict[str, tuple[int, int]] = {}
        for run, target in runners.values():  # warm up
            run(target)
        for _ in range(args.repeat):
            for name, (run, target) in runners.items():
                gc.collect()
                seconds, trips, touched = run(target)
                times[name].append(seconds)
                shape[name] = (trips, touched)
        for mc in ours.values():
            mc.close()
        for client in theirs.values():
            client.close()
    finally:
        for server in servers:
            server.stop()

    base_runs = times["asynq, 1 server"]

    def paired(name: str) -> float:
        """Median over turns of this configuration's time / asynq on 1 server's, same turn."""
        return statistics.median(t / b for t, b in zip(times[name], base_runs, strict=True))

    print(
        f"{args.keys} keys read in one round, warm; median of {args.repeat} runs, taking turns "
        "('vs' is the median of each turn's ratio); "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    print(
        "| configuration | sequential round trips | servers | flush (ms) | vs asynq on 1 server |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in times:
        median = statistics.median(times[name])
        trips, touched = shape[name]
        print(f"| {name} | {trips} | {touched} | {median * 1e3:.2f} | {paired(name):.2f}x |")
    ratio = paired("asynq, 4 servers")
    print(f"\nasynq, 4 servers vs 1: {ratio:.2f}x (target: at most 1.30x)")
    return 0


def _ring_of(mc: MemcacheClient) -> Any:
    """A HashClient hasher that places keys exactly as asynq's ring does, so both read the
    same servers."""

    class SameRing:
        def __init__(self) -> None:
            self.nodes: list[str] = []

        def add_node(self, node: str) -> None:
            self.nodes.append(node)

        def remove_node(self, node: str) -> None:
            self.nodes.remove(node)

        def get_node(self, key: str) -> str:
            return mc.server_for(key)

    return SameRing


if __name__ == "__main__":
    raise SystemExit(main())

"""Stress: threads and processes read, dirty() and fault a shared cluster; nothing stale is read.

Readers in this process and in two others call a cached function over a few hot keys whose
"database" is a separate memcached (a version number per key, bumped by writers). A writer bumps
a key's version, calls ``dirty()`` until memcached has answered it, and only then publishes the
version as done. A reader notes the done version of its key *before* it calls the function and
checks that the value is at least that: no read returns a value older than the last completed
``dirty()``. Meanwhile a fault thread pauses one cache server at a time (SIGSTOP). Everything runs
on 127.0.0.1 for a few seconds.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from typing import Any

import pytest
from pymemcache.client.base import Client

from asynq.memcache import MemcacheClient, MemcachedServer

KEYS = 4
SECONDS = 3.0


def make_cached(cluster: list[str], db_address: str, leases: bool) -> tuple[MemcacheClient, Any]:
    mc = MemcacheClient(
        cluster,
        leases=leases,
        read_timeout=0.2,
        connect_timeout=0.2,
        retry_after=0.05,
        lease_ttl=1,
        lease_wait=0.5,
    )
    host, port = db_address.split(":")
    local = threading.local()
    opened: list[Client] = []

    def db() -> Client:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client((host, int(port)), default_noreply=False, timeout=5)
            opened.append(client)
        return client

    def close() -> None:
        for client in opened:
            client.close()
        mc.close()

    @mc.cached("stress.version")
    def version(key: int) -> int:
        value = int(db().get(f"v{key}"))
        time.sleep(random.random() * 0.004)  # widen the window between the read and the write
        return value

    def done(key: int) -> int:
        return int(db().get(f"done{key}"))

    version.done = done  # type: ignore[attr-defined]
    version.close = close  # type: ignore[attr-defined]
    return mc, version


def read_loop(cluster: list[str], db_address: str, leases: bool, threads: int, out: Any) -> None:
    """Read random keys from ``threads`` threads for SECONDS; put (reads, stale reads)."""
    mc, version = make_cached(cluster, db_address, leases)
    counts = [0, 0]
    lock = threading.Lock()
    stop_at = time.monotonic() + SECONDS

    def reader() -> None:
        reads = stale = 0
        while time.monotonic() < stop_at:
            key = random.randrange(KEYS)
            floor = version.done(key)
            if version(key) < floor:
                stale += 1
            reads += 1
        with lock:
            counts[0] += reads
            counts[1] += stale

    workers = [threading.Thread(target=reader) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    version.close()
    out.put(tuple(counts))


def stress(leases: bool) -> tuple[int, int, int]:
    """(reads, stale reads, completed dirties) of one run."""
    servers = [MemcachedServer().start() for _ in range(2)]
    database = MemcachedServer().start()
    try:
        cluster = [s.address for s in servers]
        db = Client((database.host, database.port), default_noreply=False, timeout=5)
        for key in range(KEYS):
            db.set(f"v{key}", b"0")
            db.set(f"done{key}", b"0")
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        processes = [
            context.Process(target=read_loop, args=(cluster, database.address, leases, 3, out))
            for _ in range(2)
        ]
        for process in processes:
            process.start()
        stop = threading.Event()
        dirties = [0]

        def writer() -> None:
            mc, version = make_cached(cluster, database.address, leases)
            mc.retry_after = 0.0  # every dirty() tries: a failure is seen, never skipped
            own = Client((database.host, database.port), default_noreply=False, timeout=5)
            while not stop.is_set():
                key = random.randrange(KEYS)
                new = own.incr(f"v{key}", 1)
                while True:
                    errors = mc.stats.errors
                    version.dirty(key)
                    if mc.stats.errors == errors:
                        break  # memcached answered: the dirty() is complete
                    time.sleep(0.01)
                own.set(f"done{key}", str(new).encode())
                dirties[0] += 1
                time.sleep(0.003)
            own.close()
            version.close()

        def faults() -> None:
            while not stop.wait(0.4):
                victim = random.choice(servers)
                victim.pause()
                stop.wait(0.15)
                victim.resume()

        helpers = [threading.Thread(target=writer) for _ in range(2)]
        helpers.append(threading.Thread(target=faults))
        for helper in helpers:
            helper.start()
        read_loop(cluster, database.address, leases, 3, out)
        stop.set()
        for helper in helpers:
            helper.join()
        reads = stale = 0
        for _ in range(3):
            r, s = out.get(timeout=60)
            reads += r
            stale += s
        for process in processes:
            process.join(timeout=60)
        db.close()
        return reads, stale, dirties[0]
    finally:
        for server in [*servers, database]:
            server.stop()


@pytest.mark.slow
def test_no_read_returns_a_value_older_than_the_last_completed_dirty_under_faults() -> None:
    reads, stale, dirties = stress(leases=True)
    assert reads > 300 and dirties > 50, (reads, dirties)
    assert stale == 0, f"{stale} of {reads} reads were older than a completed dirty()"

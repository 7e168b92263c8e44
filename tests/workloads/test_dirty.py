"""``f.dirty(x)``: "delete the cached value after the data changed; the next read recomputes it"
(docs/memcache.md), and DESIGN: "a write-back never overwrites a newer delete".

So once ``dirty()`` has returned, a new request never reads the old value: in one thread, in 8
threads sharing a client, and in 2 processes with their own clients; and when everything has
stopped, every item reads as its latest version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymemcache.client.base import Client

from asynq import asynq
from asynq.memcache import MemcacheClient
from workloads.dirty_worker import address_of, main, make_version
from workloads.helpers import assert_none_wrong, fresh_namespace

ITEMS = 3
SECONDS = 2.5


@pytest.fixture
def database(memcached_factory: Any) -> Iterator[tuple[str, Client]]:
    """The source of truth: a memcached of its own holding ``v:<x>`` versions."""
    (server,) = memcached_factory(1)
    db = Client(address_of(server.address))
    for x in range(ITEMS):
        db.set(f"v:{x}", "0", noreply=False)
    yield server.address, db
    db.close()


@pytest.fixture
def version(mc_client: MemcacheClient, database: tuple[str, Client]) -> Iterator[Any]:
    """The versioned cached function on ``mc_client``, in a namespace of its own."""
    function = make_version(mc_client, fresh_namespace("dirty"), database[0])
    yield function
    function.close_database()


def final_reads_are_latest(
    cache_address: str, namespace: str, db_address: str, db: Client
) -> list[str]:
    """After the workload: every item reads as its latest version, through a new client."""
    wrong = []
    fresh = MemcacheClient(cache_address)
    version = make_version(fresh, namespace, db_address)
    try:

        @asynq()
        def read_all() -> Any:
            return (yield [version.asynq(x) for x in range(ITEMS)])

        latest = [int(db.get(f"v:{x}")) for x in range(ITEMS)]
        for label, got in [
            ("sync", [version(x) for x in range(ITEMS)]),
            ("yielded", read_all()),
        ]:
            for x in range(ITEMS):
                if got[x] != latest[x]:
                    wrong.append(f"at rest, {label} version({x}) = {got[x]}, latest {latest[x]}")
    finally:
        version.close_database()
        fresh.close()
    return wrong


def test_after_dirty_returns_a_new_request_reads_the_new_value_in_one_thread(
    mc_client: MemcacheClient, database: tuple[str, Client], version: Any
) -> None:
    _, db = database

    @asynq()
    def yielded(x: int) -> Any:
        return (yield version.asynq(x))

    wrong = []
    for step in range(300):
        x = step % ITEMS
        before = version(x)
        bumped = db.incr(f"v:{x}", 1)
        assert bumped == before + 1, "nothing else writes in this test"
        version.dirty(x)
        read = [version, yielded, version][step % 3]
        if (got := read(x)) != bumped:
            wrong.append(f"step {step}: {read.__name__}({x}) = {got} after {bumped} was dirtied")
    assert_none_wrong(wrong, 300)


def test_dirty_inside_a_request_scope_updates_what_that_scope_reads(
    mc_client: MemcacheClient, database: tuple[str, Client], version: Any
) -> None:
    _, db = database
    with mc_client.request():
        assert version(0) == 0
        db.incr("v:0", 1)
        assert version(0) == 0, "read once per request"
        version.dirty(0)
        assert version(0) == 1
        assert version.asynq(0).value() == 1
    assert version(0) == 1


def test_dirty_returns_whether_memcached_had_the_value(
    version: Any,
) -> None:
    assert version.dirty(0) is False
    assert version(0) == 0
    assert version.dirty(0) is True
    assert version.dirty(0) is False


def test_after_dirty_returns_no_new_request_reads_the_old_value_with_8_threads(
    memcached: Any, database: tuple[str, Client]
) -> None:
    db_address, db = database
    namespace = fresh_namespace("dirty")
    report = main(
        {
            "cache": memcached.address,
            "db": db_address,
            "namespace": namespace,
            "first_worker": 0,
            "threads": 8,
            "workers": 8,
            "items": ITEMS,
            "seconds": SECONDS,
        }
    )
    assert report["writes"] > 0 and report["reads"] > 0, report
    stale = final_reads_are_latest(memcached.address, namespace, db_address, db) + report["stale"]
    assert_none_wrong(stale, report["reads"] + 2 * ITEMS)


def test_after_dirty_returns_no_new_request_reads_the_old_value_with_2_processes(
    memcached: Any, database: tuple[str, Client]
) -> None:
    db_address, db = database
    namespace = fresh_namespace("dirty")
    script = Path(__file__).with_name("dirty_worker.py")
    processes = []
    for first_worker in (0, 2):
        settings = {
            "cache": memcached.address,
            "db": db_address,
            "namespace": namespace,
            "first_worker": first_worker,
            "threads": 2,
            "workers": 4,
            "items": ITEMS,
            "seconds": SECONDS,
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, str(script), json.dumps(settings)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    assert all(r["writes"] > 0 and r["reads"] > 0 for r in reports), reports
    stale = final_reads_are_latest(memcached.address, namespace, db_address, db)
    stale += [line for r in reports for line in r["stale"]]
    assert_none_wrong(stale, sum(r["reads"] for r in reports) + 2 * ITEMS)

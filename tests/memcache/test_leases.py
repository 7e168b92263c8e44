"""Leases: a missing hot key is computed once, and a dirty() racing a computation wins."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest
from pymemcache.client.base import Client

from asynq import asynq
from asynq.memcache import MemcacheClient

from .conftest import Server


def counter(server: Server) -> Client:
    """A plain client that counts body runs in memcached, across threads and processes."""
    client = Client((server.host, server.port), default_noreply=False, timeout=5)
    client.set("runs", b"0")
    return client


def runs(server: Server) -> int:
    client = Client((server.host, server.port), timeout=5)
    try:
        return int(client.get("runs"))
    finally:
        client.close()


def call_together(address: str, leases: bool, ready: Any, threads: int, out: Any) -> None:
    """Call hot(1) from ``threads`` threads once every process is ``ready``; put the results
    in ``out``. The body takes 50 ms and counts its runs in memcached."""
    mc = MemcacheClient(address, leases=leases, read_timeout=5)
    host, port = address.split(":")
    count = Client((host, int(port)), default_noreply=False, timeout=5)
    lock = threading.Lock()

    @mc.cached("hot")
    def hot(x: int) -> str:
        with lock:  # one pymemcache client, shared by the threads
            count.incr("runs", 1)
        time.sleep(0.05)
        return f"value of {x}"

    results: list[str] = []

    def call() -> None:
        go.wait(60)
        results.append(hot(1))

    go = threading.Event()
    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()  # every process has started its threads: release them all at once
    go.set()
    for worker in workers:
        worker.join()
    count.close()
    mc.close()
    out.put(results)


def stampede(server: Server, leases: bool) -> tuple[list[str], int]:
    """30 threads in this process and 4 processes of 5 threads miss hot(1) at the same time."""
    counter(server).close()
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    ready = context.Barrier(5, timeout=60)
    processes = [
        context.Process(target=call_together, args=(server.address, leases, ready, 5, out))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    call_together(server.address, leases, ready, 30, out)
    results: list[str] = []
    for _ in range(5):
        results.extend(out.get(timeout=60))
    for process in processes:
        process.join(timeout=60)
    return results, runs(server)


@pytest.mark.slow
def test_fifty_callers_in_threads_and_processes_missing_one_key_run_the_body_once(
    memcached: Server,
) -> None:
    results, body_runs = stampede(memcached, leases=True)
    assert results == ["value of 1"] * 50
    assert body_runs == 1


@pytest.mark.slow
def test_without_leases_the_same_stampede_runs_the_body_many_times(memcached: Server) -> None:
    results, body_runs = stampede(memcached, leases=False)
    assert results == ["value of 1"] * 50
    assert body_runs > 1


def test_callers_in_threads_wait_for_the_one_computing_instead_of_running_the_body(
    memcached: Server,
) -> None:
    mc = MemcacheClient(memcached.address)
    started = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    @mc.cached("slow")
    def slow(x: int) -> str:
        calls.append(x)
        started.set()
        release.wait(10)
        return "computed once"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(slow(1)))
    first.start()
    started.wait(10)
    others = [threading.Thread(target=lambda: results.append(slow(1))) for _ in range(5)]
    for thread in others:
        thread.start()
    release.set()
    for thread in [first, *others]:
        thread.join()
    assert results == ["computed once"] * 6
    assert calls == [1]
    assert mc.stats.lease_timeouts == 0
    mc.close()


def racing_dirty(
    memcached: Server, leases: bool, foreign: bytes | None = None, primed: bool = False
) -> tuple[str, str]:
    """A computation reads the old data, dirty() runs after the data changed, and only then
    does the computation finish and write its value back. With ``foreign``, the key first
    holds those bytes, stored by another client (so the write-back overwrites them); with
    ``primed``, the call is primed first, as legacy code does."""
    mc = MemcacheClient(memcached.address, leases=leases)
    db = {"name": "old"}
    in_body = threading.Event()
    finish = threading.Event()

    @mc.cached("user.name")
    def name(uid: int) -> str:
        value = db["name"]
        if not in_body.is_set():
            in_body.set()
            finish.wait(10)
        return value

    if foreign is not None:
        legacy = Client((memcached.host, memcached.port), default_noreply=False, timeout=5)
        legacy.set(name.key(1), foreign)
        legacy.close()
    first: list[str] = []

    def race() -> None:
        if primed:
            with mc.request():
                name.prime(1)
                first.append(name(1))
        else:
            first.append(name(1))
        mc.get("anything")  # on the same connection: answered after the write-back landed

    racer = threading.Thread(target=race)
    racer.start()
    in_body.wait(10)
    db["name"] = "new"
    name.dirty(1)
    finish.set()
    racer.join()
    with MemcacheClient(memcached.address) as later:
        after = later.cached("user.name")(name.fn)(1)
    mc.close()
    return first[0], after


def test_a_value_computed_before_dirty_is_not_written_back_after_it(memcached: Server) -> None:
    before, after = racing_dirty(memcached, leases=True)
    assert before == "old"  # the request that read it keeps its own copy
    assert after == "new"


def test_without_leases_the_stale_write_back_lands_after_dirty(memcached: Server) -> None:
    before, after = racing_dirty(memcached, leases=False)
    assert (before, after) == ("old", "old")


@pytest.mark.parametrize("primed", [False, True], ids=["called", "primed"])
def test_a_dirty_racing_the_overwrite_of_another_clients_value_wins(
    memcached: Server, primed: bool
) -> None:
    before, after = racing_dirty(memcached, leases=True, foreign=b"legacy bytes", primed=primed)
    assert before == "old"
    assert after == "new"


def test_a_body_that_fails_gives_its_lease_back_so_the_next_caller_computes_at_once(
    mc: MemcacheClient,
) -> None:
    attempts: list[int] = []

    @mc.cached("flaky")
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("database unavailable")
        return x

    with pytest.raises(RuntimeError, match="database unavailable"):
        flaky(1)
    with MemcacheClient(mc.servers[0]) as other:
        assert other.cached("flaky")(flaky.fn)(1) == 1
        assert other.stats.lease_timeouts == 0
    assert attempts == [1, 1]


def test_a_raw_get_of_a_key_being_computed_is_a_miss_not_an_empty_value(
    mc: MemcacheClient,
) -> None:
    started = threading.Event()
    release = threading.Event()

    @mc.cached("slow")
    def slow(x: int) -> str:
        started.set()
        release.wait(10)
        return "done"

    thread = threading.Thread(target=slow, args=(1,))
    thread.start()
    started.wait(10)
    with MemcacheClient(mc.servers[0]) as other:
        assert other.get(slow.key(1)) is None
    release.set()
    thread.join()


def test_stale_while_revalidate_serves_the_old_value_marked_stale_while_one_recomputes(
    mc: MemcacheClient,
) -> None:
    db = {"bio": "v1"}
    recomputing = threading.Event()
    finish = threading.Event()

    @mc.cached("user.bio", stale_while_revalidate=True)
    def bio(uid: int) -> str:
        value = db["bio"]
        if value == "v2":
            recomputing.set()
            finish.wait(10)
        return value

    assert bio(1) == "v1"
    mc.flush_writes()
    db["bio"] = "v2"
    assert bio.dirty(1) is True

    def recompute() -> None:
        bio(1)
        mc.get("anything")  # on the same connection: answered after the write-back landed

    recomputer = threading.Thread(target=recompute)
    recomputer.start()
    recomputing.wait(10)
    with MemcacheClient(mc.servers[0]) as other:
        reader = other.cached("user.bio", stale_while_revalidate=True)(bio.fn)
        with other.request() as scope:
            assert reader(1) == "v1"
            assert scope.stale == {bio.key(1)}
        finish.set()
        recomputer.join()
        with other.request() as scope:
            assert reader(1) == "v2"
            assert scope.stale == set()


def test_leases_keep_a_warm_page_at_one_multi_get_per_round(mc: MemcacheClient) -> None:
    @mc.cached("square")
    def square(x: int) -> int:
        return x * x

    @mc.cached("total")
    @asynq()
    def total(n: int) -> Any:
        return sum((yield [square.asynq(i) for i in range(n)]))

    assert total(20) == sum(i * i for i in range(20))
    mc.flush_writes()
    mc.stats.reset()
    assert total(20) == sum(i * i for i in range(20))
    assert mc.stats.round_trips == 1


def test_a_lease_won_by_priming_for_a_key_never_read_is_given_back_when_the_request_ends(
    mc: MemcacheClient,
) -> None:
    from asynq import priming

    @mc.cached("primed")
    def primed(x: int) -> int:
        return x

    with mc.request():
        primed.prime(1)
        priming.drive()  # the multi-get takes the lease of the missing key; nobody reads it
    mc.flush_writes()
    with MemcacheClient(mc.servers[0]) as other:
        assert other.cached("primed")(primed.fn)(1) == 1
        assert other.stats.lease_timeouts == 0  # computed at once, no wait for a lost lease


def test_a_lease_held_by_a_caller_that_never_answers_costs_lease_wait_then_the_value_is_computed(
    memcached: Server, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import socket

    mc = MemcacheClient(memcached.address, lease_wait=0.2)

    @mc.cached("orphan")
    def orphan(x: int) -> str:
        return "computed here"

    # Another client takes the lease of the missing key and never writes the value.
    with socket.create_connection((memcached.host, memcached.port), timeout=2) as holder:
        holder.sendall(b"mg " + orphan.key(1).encode() + b" v c N30\r\n")
        assert b" W" in holder.recv(100)
        with caplog.at_level(logging.WARNING, logger="asynq.memcache"):
            assert orphan(1) == "computed here"
    assert mc.stats.lease_timeouts == 1
    message = caplog.records[0].getMessage()
    assert "for another caller to compute orphan:1 (lease_wait=0.20)" in message
    assert "computing it here without writing it back" in message
    mc.flush_writes()
    assert mc.get(orphan.key(1)) is None  # the lease is not ours: nothing was written
    mc.close()


def test_another_clients_value_marked_stale_is_never_served_as_the_stale_value(
    memcached: Server,
) -> None:
    mc = MemcacheClient(memcached.address)
    other = MemcacheClient(memcached.address, lease_wait=0.05)
    seen: list[Any] = []

    def other_bio(uid: int) -> str:
        return "computed by the other client"

    other_cached = other.cached("users.bio", stale_while_revalidate=True)(other_bio)

    @mc.cached("users.bio", stale_while_revalidate=True)
    def bio(uid: int) -> str:
        seen.append(other_cached(uid))  # read while this call holds the lease
        return "fresh"

    legacy = Client((memcached.host, memcached.port), default_noreply=False, timeout=5)
    legacy.set(bio.key(1), b"legacy bytes")
    legacy.close()
    bio.dirty(1)  # marks the legacy bytes stale
    assert bio(1) == "fresh"
    assert seen == ["computed by the other client"]
    mc.close()
    other.close()

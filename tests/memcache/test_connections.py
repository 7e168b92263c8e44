"""Connections are bounded: threads that end give theirs back, so a server never runs out."""

from __future__ import annotations

import threading

from pymemcache.client.base import Client

from asynq.memcache import MemcacheClient, MemcachedServer


def open_connections(server: MemcachedServer) -> int:
    stats = Client((server.host, server.port), timeout=2)
    try:
        return int(stats.stats()[b"curr_connections"])
    finally:
        stats.close()


def test_short_lived_threads_close_their_connections_and_every_read_still_hits() -> None:
    # memcached with room for 128 connections; 400 threads, 8 at a time, each make one read.
    with MemcachedServer(extra_args=["-c", "128"]) as server:
        mc = MemcacheClient(server.address, retry_after=60)
        assert mc.set("k", "v")
        baseline = open_connections(server)
        results: list[object] = []

        def read() -> None:
            results.append(mc.get("k"))

        for _ in range(50):
            threads = [threading.Thread(target=read) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert results == ["v"] * 400
        assert mc.stats.errors == 0
        # The main thread's connection stays open; the threads' are closed as each thread ends
        # (the last wave may still be ending when join() returns).
        assert open_connections(server) <= baseline + 8
        mc.close()

"""Fixtures: memcached processes on free loopback ports, clients, and round-trip recorders.

One ``memcached`` process (and one embedded store) per session, flushed before every test; a
cluster of three processes for the cluster tests. Tests that stop or pause servers start their
own with ``MemcachedServer`` so that shared ones stay healthy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq import priming
from asynq.memcache import (
    EmbeddedMemcached,
    MemcacheClient,
    MemcachedServer,
    RoundTrip,
    memcached_available,
)

Server = MemcachedServer | EmbeddedMemcached


def _require_memcached() -> None:
    if not memcached_available():
        raise RuntimeError(
            "these tests need the memcached binary on PATH (Debian: apt-get install memcached; "
            ".ci/run installs it)"
        )


@pytest.fixture(scope="session")
def _memcached_process() -> Iterator[MemcachedServer]:
    _require_memcached()
    with MemcachedServer() as server:
        yield server


@pytest.fixture(scope="session")
def _embedded_process() -> Iterator[EmbeddedMemcached]:
    with EmbeddedMemcached() as server:
        yield server


@pytest.fixture(scope="session")
def _memcached_cluster_processes() -> Iterator[list[MemcachedServer]]:
    _require_memcached()
    servers = [MemcachedServer().start() for _ in range(3)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(params=["memcached", "embedded"])
def memcached(request: pytest.FixtureRequest) -> Server:
    """One server, emptied for this test: the real memcached, then the embedded store."""
    server: Server = request.getfixturevalue(f"_{request.param}_process")
    server.flush_all()
    return server


@pytest.fixture
def memcached_cluster(_memcached_cluster_processes: list[MemcachedServer]) -> list[MemcachedServer]:
    """Three memcached processes, emptied for this test."""
    for server in _memcached_cluster_processes:
        server.flush_all()
    return _memcached_cluster_processes


@pytest.fixture
def mc(memcached: Server) -> Iterator[MemcacheClient]:
    """A client of the ``memcached`` server."""
    client = MemcacheClient(memcached.address)
    yield client
    client.close()


@pytest.fixture
def trips(mc: MemcacheClient) -> list[list[str]]:
    """The keys of every multi-get ``mc`` makes, one list per round trip."""
    return record_trips(mc)


def record_trips(client: MemcacheClient) -> list[list[str]]:
    """Subscribe to ``client.on_round_trip``; return the list the keys are appended to."""
    keys: list[list[str]] = []

    def on_trip(trip: RoundTrip) -> None:
        keys.append(list(trip.keys))

    client.on_round_trip.subscribe(on_trip)
    return keys


@pytest.fixture(autouse=True)
def _clean_priming() -> Iterator[None]:
    priming.end_request()
    yield
    priming.end_request()

"""The concurrent batch against a real local HTTP server (127.0.0.1): requests made, in flight
together, errors and timeouts per key."""

from __future__ import annotations

import threading
import urllib.error
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from asynq import asynq, get_scheduler
from asynq.loaders import ConcurrentCallTimeout, ConcurrentFunction
from examples.http_concurrent.main import (
    DelayServer,
    concurrent_fetch,
    fetch_all,
    fetch_all_naive,
)

BARRIER_TIMEOUT = 10  # only reached when the requests do not overlap (a failure)


@pytest.fixture
def fetch() -> Iterator[ConcurrentFunction[Any, Any]]:
    function = concurrent_fetch(workers=16, timeout=10)
    yield function
    function.shutdown()


def test_a_round_of_100_keys_makes_one_request_per_key(
    http_server: DelayServer, fetch: ConcurrentFunction[Any, Any]
) -> None:
    keys = [f"k{i}" for i in range(100)]
    results = fetch_all(fetch, http_server.url, keys)
    assert results == [{"key": k} for k in keys]
    assert Counter(http_server.requests) == Counter(f"/item/{k}" for k in keys)
    assert get_scheduler().stats.rounds == 1


def test_the_concurrent_results_equal_the_sequential_ones(
    http_server: DelayServer, fetch: ConcurrentFunction[Any, Any]
) -> None:
    keys = [f"k{i}" for i in range(20)]
    assert fetch_all(fetch, http_server.url, keys) == fetch_all_naive(http_server.url, keys)


def test_16_requests_are_in_flight_at_the_server_at_the_same_time(
    http_server: DelayServer, fetch: ConcurrentFunction[Any, Any]
) -> None:
    all_in = threading.Barrier(16, timeout=BARRIER_TIMEOUT)
    http_server.before_reply = lambda path: all_in.wait()
    keys = [f"k{i}" for i in range(32)]  # two waves of 16
    assert fetch_all(fetch, http_server.url, keys) == [{"key": k} for k in keys]
    assert not all_in.broken


def test_a_key_requested_twice_in_a_round_is_requested_once(
    http_server: DelayServer, fetch: ConcurrentFunction[Any, Any]
) -> None:
    results = fetch_all(fetch, http_server.url, ["a", "b", "a"])
    assert results == [{"key": "a"}, {"key": "b"}, {"key": "a"}]
    assert sorted(http_server.requests) == ["/item/a", "/item/b"]


def test_a_404_fails_only_its_key(
    http_server: DelayServer, fetch: ConcurrentFunction[Any, Any]
) -> None:
    @asynq()
    def safe(key: str) -> Any:
        try:
            return (yield fetch.asynq(http_server.url, key))
        except urllib.error.HTTPError as error:
            return error.code

    @asynq()
    def page() -> Any:
        return (yield [safe.asynq("a"), safe.asynq("missing-1"), safe.asynq("b")])

    assert page() == [{"key": "a"}, 404, {"key": "b"}]


def test_a_response_slower_than_the_timeout_fails_only_its_key(http_server: DelayServer) -> None:
    release = threading.Event()
    http_server.before_reply = lambda path: path.endswith("/slow") and release.wait(10)
    fetch = concurrent_fetch(workers=4, timeout=1.0)
    try:
        futures = [fetch.asynq(http_server.url, k) for k in ("a", "slow", "b")]
        assert futures[0].value() == {"key": "a"}
        assert futures[2].value() == {"key": "b"}
        error = futures[1].error()
        assert isinstance(error, ConcurrentCallTimeout)
        assert "fetch_item(" in str(error) and "'slow') did not return" in str(error)
    finally:
        release.set()
        fetch.shutdown()

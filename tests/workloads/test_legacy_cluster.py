"""A cluster shared with legacy code that uses pymemcache's own ``HashClient``.

docs/memcache.md: ``MemcacheClient`` accepts "an existing pymemcache ``Client``/``HashClient``,
whose servers, timeouts and key prefix are reused", and DESIGN: "Keys are placed as the
pymemcache client the user hands us places them, so legacy code and asynq code agree." The JSON
serializer stores ``bytes`` as they are, ``str`` as UTF-8 and ``int`` in decimal "with
pymemcache's flags, so either library reads the other's values" (pymemcache's
``python_memcache_serializer``, used by ``pymemcache.serde.pickle_serde``).

So with three servers, 300 keys set by one client are read by the other at the same keys, and
once the legacy client deletes them, a new request through asynq reads none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.serde import pickle_serde

from asynq import asynq
from asynq.memcache import MemcacheClient, RoundTrip
from workloads.helpers import assert_none_wrong, fresh_namespace, same, shown

KEYS = [f"legacy-key-{i}" for i in range(300)]


def value_for(i: int) -> Any:
    """str, int and bytes: the values both libraries read the same way."""
    return [f"text {i} é", i * 1000 - 7, f"bytes {i}".encode()][i % 3]


VALUES = {key: value_for(i) for i, key in enumerate(KEYS)}


@pytest.fixture(params=["", "legacy:"], ids=["no-prefix", "key-prefix"])
def legacy_and_asynq(
    request: pytest.FixtureRequest, memcached_factory: Any
) -> Iterator[tuple[HashClient, MemcacheClient, list[Client], str]]:
    """A HashClient over 3 servers as legacy code builds it, asynq's client built from it (as the
    docs say to share a cluster), and a plain client per server for looking at where keys are."""
    servers = memcached_factory(3)
    addresses = []
    for server in servers:
        host, port = server.address.rsplit(":", 1)
        addresses.append((host, int(port)))
    prefix = request.param
    legacy = HashClient(addresses, serde=pickle_serde, key_prefix=prefix.encode())
    shared = MemcacheClient(legacy)
    singles = [Client(address) for address in addresses]
    try:
        yield legacy, shared, singles, prefix
    finally:
        shared.close()
        legacy.close()
        for single in singles:
            single.close()


def compare(expected: dict[str, Any], actual: dict[str, Any], who: str) -> None:
    wrong = []
    for key, value in expected.items():
        if key not in actual:
            wrong.append(f"{who} did not find {key!r}")
        elif not same(value, actual[key]):
            wrong.append(f"{who} read {key!r} as {shown(actual[key])}, not {shown(value)}")
    assert_none_wrong(wrong, len(expected))


def test_values_the_legacy_client_sets_are_read_by_asynq_at_the_same_keys(
    legacy_and_asynq: tuple[HashClient, MemcacheClient, list[Client], str],
) -> None:
    legacy, shared, _, _ = legacy_and_asynq
    assert legacy.set_many(VALUES, noreply=False) == []
    compare(VALUES, legacy.get_many(KEYS), "the legacy client itself")
    compare(VALUES, shared.get_many(KEYS), "asynq's get_many")
    compare(
        {key: VALUES[key] for key in KEYS[:30]},
        {key: shared.get(key) for key in KEYS[:30]},
        "asynq's get",
    )

    @asynq()
    def read_all() -> Any:
        return (yield [shared.get.asynq(key) for key in KEYS])

    trips: list[RoundTrip] = []
    shared.on_round_trip.subscribe(trips.append)
    try:
        compare(VALUES, dict(zip(KEYS, read_all(), strict=True)), "asynq's yielded reads")
    finally:
        shared.on_round_trip.unsubscribe(trips.append)
    assert len(trips) == 1 and trips[0].servers == 3 and trips[0].hits == len(KEYS)


def test_values_asynq_sets_are_read_by_the_legacy_client_at_the_same_keys(
    legacy_and_asynq: tuple[HashClient, MemcacheClient, list[Client], str],
) -> None:
    legacy, shared, _, _ = legacy_and_asynq
    assert shared.set_many(dict(list(VALUES.items())[:150])) == []
    for key, value in list(VALUES.items())[150:]:
        shared.set(key, value)
    compare(VALUES, legacy.get_many(KEYS), "the legacy client")


def test_asynq_and_the_legacy_client_agree_on_the_server_of_every_key(
    legacy_and_asynq: tuple[HashClient, MemcacheClient, list[Client], str],
) -> None:
    legacy, shared, singles, prefix = legacy_and_asynq
    assert legacy.set_many(VALUES, noreply=False) == []
    wrong = []
    for key in KEYS:
        holders = [
            f"{single.server[0]}:{single.server[1]}"
            for single in singles
            if single.get(prefix + key) is not None
        ]
        if holders != [shared.server_for(prefix + key)]:
            wrong.append(
                f"{prefix + key!r}: legacy put it on {holders}, "
                f"asynq looks on {shared.server_for(prefix + key)}"
            )
    assert_none_wrong(wrong, len(KEYS))


def test_after_the_legacy_client_deletes_the_keys_a_new_asynq_request_reads_none(
    legacy_and_asynq: tuple[HashClient, MemcacheClient, list[Client], str],
) -> None:
    legacy, shared, _, _ = legacy_and_asynq
    # asynq wrote them (as a cached function's write-back would); legacy code invalidates them.
    assert shared.set_many(VALUES) == []
    legacy.delete_many(KEYS, noreply=False)
    assert legacy.get_many(KEYS) == {}
    stale = shared.get_many(KEYS)
    assert stale == {}, (
        f"{len(stale)} of {len(KEYS)} deleted keys still read, e.g. {list(stale)[:3]}"
    )

    @asynq()
    def read_all() -> Any:
        return (yield [shared.get.asynq(key) for key in KEYS])

    found = {key: value for key, value in zip(KEYS, read_all(), strict=True) if value is not None}
    assert found == {}, f"{len(found)} of {len(KEYS)} deleted keys still read through yield"


def test_cached_functions_on_a_shared_cluster_are_seen_and_dirtied_by_the_legacy_client(
    legacy_and_asynq: tuple[HashClient, MemcacheClient, list[Client], str],
) -> None:
    legacy, shared, _, prefix = legacy_and_asynq
    source = {i: f"name {i}" for i in range(300)}

    @shared.cached(fresh_namespace("cluster"))
    def name(i: int) -> str:
        return source[i]

    @asynq()
    def names() -> Any:
        return (yield [name.asynq(i) for i in range(300)])

    assert names() == [source[i] for i in range(300)]
    legacy_keys = {}
    for i in range(300):
        full = name.key(i)
        assert full.startswith(prefix), full
        legacy_keys[full[len(prefix) :]] = i
    seen_by_legacy = legacy.get_many(list(legacy_keys))
    for i in source:
        source[i] = f"renamed {i}"
    legacy.delete_many(list(legacy_keys), noreply=False)
    wrong = [
        f"name({i}) = {got!r} after legacy deleted it"
        for i, got in enumerate(names())
        if got != source[i]
    ]
    wrong += [
        f"legacy code did not see name({i})"
        for key, i in legacy_keys.items()
        if key not in seen_by_legacy
    ]
    assert_none_wrong(wrong, 600)

"""Clusters: keys are placed by consistent hashing, and a round costs one round trip in all."""

from __future__ import annotations

import socket
import types
from typing import Any

import pytest
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

from asynq import asynq
from asynq.memcache import HashRing, MemcacheClient, MemcachedServer

from .conftest import record_trips


class SocketLog:
    """A stand-in for the socket module that records every send and receive, by server port."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, bytes]] = []
        module = types.SimpleNamespace(
            **{k: getattr(socket, k) for k in dir(socket) if k.isupper()}
        )
        module.getaddrinfo = socket.getaddrinfo
        module.socket = self._socket
        self.module = module

    def _socket(self, *args: Any) -> Any:
        return _RecordingSocket(socket.socket(*args), self.events)


class _RecordingSocket:
    def __init__(self, sock: socket.socket, events: list[tuple[str, int, bytes]]) -> None:
        self._sock = sock
        self._events = events
        self._port = 0

    def connect(self, address: Any) -> None:
        self._port = address[1]
        self._sock.connect(address)

    def sendall(self, data: bytes) -> None:
        self._events.append(("send", self._port, bytes(data[:4])))
        self._sock.sendall(data)

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        self._events.append(("recv", self._port, data[:4]))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def test_each_key_lives_on_the_server_the_ring_names(
    memcached_cluster: list[MemcachedServer],
) -> None:
    mc = MemcacheClient([s.address for s in memcached_cluster])
    keys = [f"k{i}" for i in range(60)]
    mc.set_many({k: k for k in keys})
    per_server = {}
    for server in memcached_cluster:
        direct = Client((server.host, server.port))
        per_server[server.address] = set(direct.get_many(keys))
        direct.close()
    for key in keys:
        holders = [address for address, held in per_server.items() if key in held]
        assert holders == [mc.server_for(key)]
    assert all(per_server.values()), "every server holds some of 60 keys"
    mc.close()


def test_a_round_over_the_cluster_is_one_round_trip_touching_every_server(
    memcached_cluster: list[MemcachedServer],
) -> None:
    mc = MemcacheClient([s.address for s in memcached_cluster])
    records: list[Any] = []
    mc.on_round_trip.subscribe(records.append)
    keys = [f"k{i}" for i in range(30)]
    mc.set_many({k: k.upper() for k in keys})

    @asynq()
    def read_all() -> Any:
        return (yield [mc.get.asynq(k) for k in keys])

    assert read_all() == [k.upper() for k in keys]
    assert [(r.keys, r.servers) for r in records] == [(keys, 3)]
    mc.close()


def test_a_flush_sends_every_server_its_request_before_reading_any_reply(
    memcached_cluster: list[MemcachedServer],
) -> None:
    log = SocketLog()
    hash_client = HashClient(
        [(s.host, s.port) for s in memcached_cluster], socket_module=log.module
    )
    mc = MemcacheClient(hash_client)
    keys = [f"k{i}" for i in range(30)]
    mc.set_many({k: 1 for k in keys})
    log.events.clear()

    @asynq()
    def read_all() -> Any:
        return (yield [mc.get.asynq(k) for k in keys])

    assert read_all() == [1] * 30
    kinds = [(kind, port) for kind, port, _ in log.events]
    first_recv = next(i for i, (kind, _) in enumerate(kinds) if kind == "recv")
    sends = kinds[:first_recv]
    assert sorted(port for _, port in sends) == sorted(s.port for s in memcached_cluster)
    # One request per server: a multi-get, of meta gets with leases on (the default).
    assert all(head[:3] == b"mg " for kind, _, head in log.events if kind == "send")
    assert all(kind == "recv" for kind, _ in kinds[first_recv:])
    mc.close()


def test_write_backs_go_to_the_server_of_each_key(memcached_cluster: list[MemcachedServer]) -> None:
    mc = MemcacheClient([s.address for s in memcached_cluster])
    trips = record_trips(mc)

    @mc.cached("sq")
    def square(x: int) -> int:
        return x * x

    @asynq()
    def page() -> Any:
        return (yield [square.asynq(i) for i in range(20)])

    assert page() == [i * i for i in range(20)]
    trips.clear()
    assert page() == [i * i for i in range(20)]
    assert mc.stats.hits == 20 and len(trips) == 1
    mc.close()


def test_a_cluster_can_be_given_as_a_pymemcache_hash_client(
    memcached_cluster: list[MemcachedServer],
) -> None:
    hash_client = HashClient([(s.host, s.port) for s in memcached_cluster], key_prefix=b"hc:")
    mc = MemcacheClient(hash_client)
    assert mc.servers == [s.address for s in memcached_cluster]
    assert mc.key_prefix == "hc:"
    mc.set("a", 1)
    assert mc.get("a") == 1
    mc.close()


def test_the_ring_moves_few_keys_when_a_server_is_added() -> None:
    keys = [f"key{i}" for i in range(3000)]
    three = HashRing(["a:1", "b:1", "c:1"])
    four = HashRing(["a:1", "b:1", "c:1", "d:1"])
    moved = sum(three.node_for(k) != four.node_for(k) for k in keys)
    assert moved < len(keys) * 0.4
    assert all(four.node_for(k) == "d:1" for k in keys if three.node_for(k) != four.node_for(k))


def test_keys_written_by_a_hash_client_are_found_through_it_and_gone_after_it_deletes_them(
    memcached_cluster: list[MemcachedServer],
) -> None:
    legacy = HashClient([(s.host, s.port) for s in memcached_cluster], default_noreply=False)
    mc = MemcacheClient(legacy)
    keys = [f"page:{i}" for i in range(300)]
    legacy.set_many({k: k.encode() for k in keys})
    assert mc.get_many(keys) == {k: k.encode() for k in keys}
    legacy.delete_many(keys)
    assert mc.get_many(keys) == {}
    mc.close()
    legacy.close()


def test_plain_addresses_place_keys_as_pymemcaches_default_hash_client_does(
    memcached_cluster: list[MemcachedServer],
) -> None:
    addresses = [s.address for s in memcached_cluster]
    legacy = HashClient(addresses, key_prefix=b"app:", default_noreply=False)
    mc = MemcacheClient(addresses, key_prefix="app:")
    keys = [f"user:{i}" for i in range(300)]
    mc.set_many({k: k for k in keys})
    assert legacy.get_many(keys) == {k: k.encode() for k in keys}  # its serde reads bytes
    legacy.delete_many(keys[:150])
    assert mc.get_many(keys) == {k: k for k in keys[150:]}
    mc.close()
    legacy.close()


def test_ketama_placement_is_an_option(memcached_cluster: list[MemcachedServer]) -> None:
    addresses = [s.address for s in memcached_cluster]
    mc = MemcacheClient(addresses, hashing="ketama")
    ring = HashRing(addresses)
    keys = [f"k{i}" for i in range(60)]
    assert [mc.server_for(k) for k in keys] == [ring.node_for(k) for k in keys]
    mc.close()


def test_an_unknown_hashing_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="hashing must be 'rendezvous'.*or 'ketama'.*got 'md5'"):
        MemcacheClient(["127.0.0.1:11211", "127.0.0.1:11212"], hashing="md5")

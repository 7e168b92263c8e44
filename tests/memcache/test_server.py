"""The servers tests run against: the real memcached and the embedded store behave alike."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError, MemcacheServerError

from asynq.memcache import EmbeddedMemcached, MemcachedServer, memcached_available


@pytest.fixture
def raw(memcached: Any) -> Iterator[Client]:
    """A plain pymemcache client of the server under test."""
    client = Client((memcached.host, memcached.port), default_noreply=False, timeout=2)
    yield client
    client.close()


def test_set_get_and_get_many(raw: Client) -> None:
    assert raw.set("a", b"1")
    raw.set_many({"b": b"2", "c": b"3"})
    assert raw.get("a") == b"1"
    assert raw.get_many(["a", "b", "c", "missing"]) == {"a": b"1", "b": b"2", "c": b"3"}


def test_add_and_replace_store_only_when_they_should(raw: Client) -> None:
    assert raw.add("k", b"first") is True
    assert raw.add("k", b"second") is False
    assert raw.replace("k", b"third") is True
    assert raw.replace("absent", b"x") is False
    assert raw.get("k") == b"third"


def test_append_and_prepend(raw: Client) -> None:
    raw.set("k", b"mid")
    assert raw.append("k", b">")
    assert raw.prepend("k", b"<")
    assert raw.get("k") == b"<mid>"


def test_cas_stores_only_with_the_current_token(raw: Client) -> None:
    raw.set("k", b"v1")
    _, token = raw.gets("k")
    assert raw.cas("k", b"v2", token) is True
    assert raw.cas("k", b"v3", token) is False
    assert raw.cas("absent", b"x", token) is None
    assert raw.get("k") == b"v2"


def test_delete_incr_decr_and_touch(raw: Client) -> None:
    raw.set("n", b"10")
    assert raw.incr("n", 5) == 15
    assert raw.decr("n", 20) == 0
    assert raw.incr("absent", 1) is None
    assert raw.touch("n", 100) is True
    assert raw.touch("absent", 100) is False
    assert raw.delete("n") is True
    assert raw.delete("n") is False


def test_noreply_writes_are_applied_in_order(raw: Client) -> None:
    raw.set("k", b"1", noreply=True)
    raw.set("k", b"2", noreply=True)
    raw.delete("gone", noreply=True)
    assert raw.get("k") == b"2"


def test_a_negative_exptime_expires_at_once(raw: Client) -> None:
    raw.set("k", b"v", expire=-1)
    assert raw.get("k") is None


def test_flush_all_forgets_everything(memcached: Any, raw: Client) -> None:
    raw.set("k", b"v")
    memcached.flush_all()
    assert raw.get("k") is None


def test_flags_are_kept(memcached: Any) -> None:
    with socket.create_connection((memcached.host, memcached.port), timeout=2) as sock:
        sock.sendall(b"set k 4242 0 1\r\nx\r\nget k\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += sock.recv(1024)
    assert data == b"STORED\r\nVALUE k 4242 1\r\nx\r\nEND\r\n"


def test_a_value_larger_than_one_megabyte_is_refused(raw: Client) -> None:
    with pytest.raises(MemcacheServerError, match="object too large"):
        raw.set("big", b"x" * (1024 * 1024 + 1))
    assert raw.get("big") is None


def test_an_unknown_command_is_an_error(raw: Client) -> None:
    with pytest.raises(MemcacheClientError):
        raw.raw_command(b"frobnicate")


def test_version_answers(raw: Client) -> None:
    assert raw.version().startswith(b"1.")


def test_servers_start_on_distinct_free_ports_and_stop_cleanly() -> None:
    with MemcachedServer() as first, EmbeddedMemcached() as second:
        assert first.port != second.port
        assert first.address == f"127.0.0.1:{first.port}"
        assert first.running and second.running
    assert not first.running and not second.running


def test_a_paused_server_accepts_but_does_not_answer_until_resumed(memcached: Any) -> None:
    client = Client((memcached.host, memcached.port), timeout=0.1)
    client.set("k", b"v", noreply=False)
    memcached.pause()
    try:
        with pytest.raises(TimeoutError):
            client.get("k")
    finally:
        memcached.resume()
    client.close()
    fresh = Client((memcached.host, memcached.port), timeout=2)
    assert fresh.get("k") == b"v"
    fresh.close()


def test_the_embedded_clock_moves_forward_for_expiry(_embedded_process: Any) -> None:
    server = _embedded_process
    server.flush_all()
    client = Client((server.host, server.port), default_noreply=False)
    client.set("k", b"v", expire=10)
    server.server.advance(9)
    assert client.get("k") == b"v"
    server.server.advance(2)
    assert client.get("k") is None
    client.close()


def test_the_embedded_store_evicts_the_least_recently_used_beyond_its_memory() -> None:
    with EmbeddedMemcached(memory_mb=1) as server:
        client = Client((server.host, server.port), default_noreply=False)
        client.set("old", b"x" * 400_000)
        client.set("used", b"x" * 400_000)
        client.get("used")
        client.set("new", b"x" * 400_000)
        assert sorted(client.get_many(["old", "used", "new"])) == ["new", "used"]
        client.close()


def test_memcached_available_reports_the_binary() -> None:
    assert memcached_available() is True
    assert memcached_available("no-such-binary-here") is False

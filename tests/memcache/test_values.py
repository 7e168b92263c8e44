"""Values: JSON-able values round-trip; pickle only on request; bad bytes are a logged miss."""

from __future__ import annotations

import logging
import pickle
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asynq.memcache import JsonSerializer, MemcacheClient, PickleSerializer

json_values = st.binary(max_size=20) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


def raw_set(server: Any, key: str, data: bytes, flags: int = 0) -> None:
    with socket.create_connection((server.host, server.port), timeout=2) as sock:
        sock.sendall(b"set %s %d 0 %d\r\n%s\r\n" % (key.encode(), flags, len(data), data))
        assert sock.recv(100) == b"STORED\r\n"


@given(json_values)
def test_json_able_values_round_trip_through_memcached(_memcached_process: Any, value: Any) -> None:
    with MemcacheClient(_memcached_process.address) as mc:
        assert mc.set("value", value)
        assert mc.get("value") == value


def test_tuples_come_back_as_lists_with_the_safe_serializer(mc: MemcacheClient) -> None:
    mc.set("t", (1, (2, 3)))
    assert mc.get("t") == [1, [2, 3]]


def test_str_int_and_bytes_use_pymemcaches_flags_so_either_client_reads_them(
    mc: MemcacheClient,
) -> None:
    from pymemcache.client.base import Client
    from pymemcache.serde import pickle_serde

    host, port = mc.servers[0].split(":")
    plain = Client((host, int(port)), serde=pickle_serde, default_noreply=False)
    try:
        mc.set_many({"s": "text", "i": 12, "b": b"\x00\x01"})
        assert plain.get_many(["s", "i", "b"]) == {"s": "text", "i": 12, "b": b"\x00\x01"}
        plain.set("from-pymemcache", "hello")
        assert mc.get("from-pymemcache") == "hello"
    finally:
        plain.close()


def test_garbage_bytes_under_a_key_are_a_miss_and_one_logged_error(
    memcached: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mc = MemcacheClient(memcached.address)
    raw_set(memcached, "users.name:1", b"\xff\xfe not json", flags=256)
    calls: list[int] = []

    @mc.cached("users.name")
    def name_of_user(uid: int) -> str:
        calls.append(uid)
        return "fresh"

    with caplog.at_level(logging.ERROR, logger="asynq.memcache"):
        assert name_of_user(1) == "fresh"
    assert calls == [1]
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "users.name:1" in caplog.records[0].getMessage()
    assert mc.stats.errors == 1
    assert name_of_user(1) == "fresh" and calls == [1]  # the write-back replaced the garbage


def test_the_safe_serializer_never_unpickles(
    memcached: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Boom:
        def __reduce__(self) -> Any:
            return (pytest.fail, ("unpickling ran code",))

    raw_set(memcached, "evil", pickle.dumps(Boom()), flags=1)
    mc = MemcacheClient(memcached.address)
    with caplog.at_level(logging.ERROR, logger="asynq.memcache"):
        assert mc.get("evil") is None
    assert "never unpickles" in caplog.records[0].getMessage()


def test_pickle_is_used_only_when_asked_for(memcached: Any) -> None:
    mc = MemcacheClient(memcached.address, serializer=PickleSerializer())
    value = {1: {2, 3}, "t": (1, 2)}
    assert mc.set("p", value)
    assert mc.get("p") == value
    with pytest.raises(TypeError, match="JSON object keys are strings"):
        MemcacheClient(memcached.address).set("p", value)


def test_a_serializer_can_be_any_object_with_the_serde_interface(memcached: Any) -> None:
    class Upper:
        def serialize(self, key: Any, value: str) -> tuple[bytes, int]:
            return value.upper().encode(), 0

        def deserialize(self, key: Any, data: bytes, flags: int) -> str:
            return data.decode()

    mc = MemcacheClient(memcached.address, serializer=Upper())
    mc.set("k", "quiet")
    assert mc.get("k") == "QUIET"


def test_a_value_too_large_for_memcached_is_returned_but_not_written_back(
    mc: MemcacheClient, caplog: pytest.LogCaptureFixture
) -> None:
    @mc.cached("big")
    def big(x: int) -> str:
        return "x" * (2 * 1024 * 1024)

    with caplog.at_level(logging.WARNING, logger="asynq.memcache"):
        assert len(big(1)) == 2 * 1024 * 1024
    assert "max_value_size" in caplog.records[0].getMessage()
    assert mc.get("big:1") is None


def test_the_json_serializer_reports_unknown_flags() -> None:
    with pytest.raises(ValueError, match="unknown flags 4096"):
        JsonSerializer().deserialize("k", b"x", 4096)


@pytest.mark.parametrize(
    "foreign",
    [b"\x8f\x01\xfe random", b'{"name": "trunc', b"{"],
    ids=["random", "truncated", "brace"],
)
def test_a_value_another_client_stored_under_a_cached_key_is_a_logged_miss_then_overwritten(
    memcached: Any, caplog: pytest.LogCaptureFixture, foreign: bytes
) -> None:
    mc = MemcacheClient(memcached.address)
    calls: list[int] = []

    @mc.cached("users.profile")
    def profile(uid: int) -> dict[str, Any]:
        calls.append(uid)
        return {"name": "ada"}

    raw_set(memcached, profile.key(1), foreign, flags=0)
    with caplog.at_level(logging.WARNING, logger="asynq.memcache"):
        assert profile(1) == {"name": "ada"}
    assert calls == [1]
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "users.profile:1" in message
    assert "was not written by a cached function" in message
    mc.flush_writes()
    with MemcacheClient(memcached.address) as other:
        assert other.cached("users.profile")(profile.fn)(1) == {"name": "ada"}
    assert calls == [1]  # the write-back replaced the foreign value


@pytest.mark.parametrize("leases", [True, False], ids=["leases", "classic-gets"])
def test_a_primed_key_holding_another_clients_bytes_is_a_logged_miss_then_overwritten(
    memcached: Any, caplog: pytest.LogCaptureFixture, leases: bool
) -> None:
    mc = MemcacheClient(memcached.address, leases=leases)
    calls: list[int] = []

    @mc.cached("users.profile")
    def profile(uid: int) -> dict[str, Any]:
        calls.append(uid)
        return {"name": "ada"}

    raw_set(memcached, profile.key(1), b'{"name": "trunc', flags=0)
    with caplog.at_level(logging.WARNING, logger="asynq.memcache"):
        with mc.request():
            profile.prime(1)
            assert profile(1) == {"name": "ada"}
    assert calls == [1]
    assert len(caplog.records) == 1
    assert "was not written by a cached function" in caplog.records[0].getMessage()
    with MemcacheClient(memcached.address, leases=leases) as other:
        assert other.cached("users.profile")(profile.fn)(1) == {"name": "ada"}
    assert calls == [1]  # the write-back replaced the foreign value
    mc.close()


def test_a_primed_key_holding_an_undecodable_value_is_recomputed_and_overwritten(
    memcached: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mc = MemcacheClient(memcached.address)
    calls: list[int] = []

    @mc.cached("users.name")
    def name(uid: int) -> str:
        calls.append(uid)
        return "Ada"

    raw_set(memcached, name.key(1), b"\xff\xfe not json", flags=256)
    with caplog.at_level(logging.ERROR, logger="asynq.memcache"):
        with mc.request():
            name.prime(1)
            assert name(1) == "Ada"
    assert "cannot be decoded" in caplog.records[0].getMessage()
    with MemcacheClient(memcached.address) as other:
        assert other.cached("users.name")(name.fn)(1) == "Ada"
    assert calls == [1]
    mc.close()


def test_a_cached_value_read_with_a_raw_get_is_the_value(mc: MemcacheClient) -> None:
    @mc.cached("answer")
    def answer(x: int) -> dict[str, int]:
        return {"x": x}

    answer(1)
    mc.flush_writes()
    assert mc.get(answer.key(1)) == {"x": 1}


def test_values_compressed_by_pymemcaches_compressed_serde_are_read(mc: MemcacheClient) -> None:
    from pymemcache.client.base import Client
    from pymemcache.serde import CompressedSerde

    host, port = mc.servers[0].split(":")
    legacy = Client((host, int(port)), serde=CompressedSerde(), default_noreply=False)
    try:
        legacy.set("long-text", "hello " * 500)
        legacy.set("long-bytes", b"\x00\x01" * 500)
        assert mc.get("long-text") == "hello " * 500
        assert mc.get("long-bytes") == b"\x00\x01" * 500
    finally:
        legacy.close()


def test_a_cached_function_returning_bytes_reads_its_own_bytes_back(mc: MemcacheClient) -> None:
    calls: list[int] = []

    @mc.cached("thumb")
    def thumb(x: int) -> bytes:
        calls.append(x)
        return b"\x89PNG" + bytes([x])

    assert thumb(1) == b"\x89PNG\x01"
    mc.flush_writes()
    with MemcacheClient(mc.servers[0]) as other:
        assert other.cached("thumb")(thumb.fn)(1) == b"\x89PNG\x01"
        assert other.get(thumb.key(1)) == b"\x89PNG\x01"
    assert calls == [1]


def test_a_compressed_value_legacy_code_stored_under_a_cached_key_is_read(
    mc: MemcacheClient,
) -> None:
    from pymemcache.client.base import Client
    from pymemcache.serde import CompressedSerde

    @mc.cached("users.bio")
    def bio(uid: int) -> str:
        raise AssertionError("the legacy value is read, not recomputed")

    host, port = mc.servers[0].split(":")
    legacy = Client((host, int(port)), serde=CompressedSerde(), default_noreply=False)
    try:
        legacy.set(bio.key(7), "a long biography " * 100)
    finally:
        legacy.close()
    assert bio(7) == "a long biography " * 100


def test_a_value_marked_compressed_that_is_not_zlib_is_a_logged_miss(
    memcached: Any, caplog: pytest.LogCaptureFixture
) -> None:
    raw_set(memcached, "squeezed", b"not zlib at all", flags=8 | 16)
    mc = MemcacheClient(memcached.address)
    with caplog.at_level(logging.ERROR, logger="asynq.memcache"):
        assert mc.get("squeezed") is None
    assert "is marked compressed (flags 24) but is not zlib data" in caplog.records[0].getMessage()

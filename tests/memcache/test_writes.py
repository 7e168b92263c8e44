"""The write-back queue: values computed on a miss wait in their request, and go out without a
round trip of their own (with the request's next round, or when it ends)."""

from __future__ import annotations

from typing import Any

import pytest

from asynq import asynq
from asynq.memcache import JsonSerializer, MemcacheClient
from asynq.memcache.writes import encode_value

from .conftest import record_trips


def test_a_write_back_waits_in_its_request_and_goes_with_the_requests_next_round(
    mc: MemcacheClient,
) -> None:
    @mc.cached("writes.sq")
    def square(x: int) -> int:
        return x * x

    trips = record_trips(mc)
    with mc.request() as scope:
        assert square(2) == 4
        assert scope.writes is not None and mc.write_backs.pending()
        assert "1 request(s) with write-backs" in repr(mc.write_backs)
        assert square(3) == 9  # its multi-get carries the write-back of square(2) first
        assert mc.pool.unconfirmed_writes() == {}  # confirmed by that round's reply
        assert scope.writes is not None  # square(3)'s, until the request ends
    assert scope.writes is None and not mc.write_backs.pending()
    assert trips == [["writes.sq:2"], ["writes.sq:3"]]
    assert mc.get_many(["writes.sq:2", "writes.sq:3"]) == {"writes.sq:2": 4, "writes.sq:3": 9}


def test_a_top_level_call_ends_its_own_request_with_its_write_backs_applied(
    mc: MemcacheClient, memcached: Any
) -> None:
    @mc.cached("writes.double")
    @asynq()
    def double(x: int) -> Any:
        return x * 2

    assert double(21) == 42
    assert not mc.write_backs.pending() and not mc.pool.has_unconfirmed()
    other = MemcacheClient(memcached.address)
    try:
        assert other.get("writes.double:21") == 42
    finally:
        other.close()


def test_flush_writes_sends_the_current_requests_write_backs_now(mc: MemcacheClient) -> None:
    @mc.cached("writes.neg")
    def negate(x: int) -> int:
        return -x

    with mc.request():
        assert negate(5) == -5
        assert mc.write_backs.pending()
        mc.flush_writes()
        assert not mc.write_backs.pending()
        assert not mc.pool.has_unconfirmed()


def test_a_value_is_kept_as_a_read_of_it_returns_it() -> None:
    serializer = JsonSerializer()
    data, flags, stored = encode_value(serializer, "k", (1, "a"))
    assert stored == [1, "a"]
    assert serializer.deserialize("k", data, flags) == stored
    assert encode_value(serializer, "k", "plain")[2] == "plain"


def test_a_serializer_that_returns_no_bytes_names_what_it_returned() -> None:
    class Broken:
        def serialize(self, key: str, value: Any) -> tuple[Any, int]:
            return "text", 0

        def deserialize(self, key: str, data: bytes, flags: int) -> Any:
            return data

        def __repr__(self) -> str:
            return "Broken()"

    with pytest.raises(TypeError) as info:
        encode_value(Broken(), "k", 1)  # type: ignore[arg-type]
    assert str(info.value) == "Broken().serialize returned str, expected (bytes, flags)"


def test_deleting_through_the_pool_says_whether_memcached_had_the_key(mc: MemcacheClient) -> None:
    mc.set("writes.gone", 1)
    assert mc.pool.delete("writes.gone") is True
    assert mc.pool.delete("writes.gone") is False
    assert mc.get("writes.gone") is None


def test_classic_noreply_write_backs_are_confirmed_when_their_request_ends(
    memcached: Any,
) -> None:
    # Without leases, write-backs are classic ``set ... noreply``: nothing answers them, so the
    # end of the request asks memcached for one answer after them (``version``); otherwise the
    # next request, on another connection, could be served before they are applied.
    mc = MemcacheClient(memcached.address, leases=False)
    calls: list[int] = []

    @mc.cached("writes.classic")
    def triple(x: int) -> int:
        calls.append(x)
        return 3 * x

    with mc.request():
        assert triple(1) == 3
        mc.write_backs.send()  # sent now, noreply: nothing has confirmed them yet
        assert mc.pool.has_unconfirmed()
    assert not mc.pool.has_unconfirmed()
    with MemcacheClient(memcached.address, leases=False) as other:
        assert other.cached("writes.classic")(triple.fn)(1) == 3
    assert calls == [1]
    mc.close()

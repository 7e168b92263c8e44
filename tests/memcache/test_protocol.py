"""The get reply reader: whole replies however they are cut, and values that look like the end."""

from __future__ import annotations

from typing import Any

import pytest

from asynq.memcache import MemcacheClient
from asynq.memcache.protocol import ProtocolError, parse_meta, read_meta, read_values

REPLY = b"VALUE a 0 10\r\nabc\r\nEND\r\n\r\nVALUE b 16 0\r\n\r\nVALUE c 256 5\r\nEND\r\n\r\nEND\r\n"


class ChunkedSocket:
    """Gives ``data`` back in pieces of at most ``size`` bytes."""

    def __init__(self, data: bytes, size: int) -> None:
        self.pieces = [data[i : i + size] for i in range(0, len(data), size)]

    def settimeout(self, _seconds: float) -> None:
        pass

    def recv(self, _size: int) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 16, 1000])
def test_a_reply_is_read_whole_however_the_network_cuts_it(size: int) -> None:
    values = read_values(ChunkedSocket(REPLY, size), deadline=float("inf"))  # type: ignore[arg-type]
    assert values == [("a", 0, b"abc\r\nEND\r\n"), ("b", 16, b""), ("c", 256, b"END\r\n")]


def test_an_empty_reply_has_no_values() -> None:
    assert read_values(ChunkedSocket(b"END\r\n", 2), deadline=float("inf")) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reply",
    [
        b"SERVER_ERROR out of memory\r\n",
        b"VALUE a x 1\r\nz\r\nEND\r\n",
        b"VALUE a 0 1\r\nzz\r\nEND\r\n",
    ],
)
def test_a_reply_that_breaks_the_protocol_is_an_error(reply: bytes) -> None:
    with pytest.raises((ProtocolError, ConnectionError)):
        read_values(ChunkedSocket(reply, 100), deadline=float("inf"))  # type: ignore[arg-type]


def test_values_that_contain_the_end_marker_round_trip(mc: MemcacheClient, memcached: Any) -> None:
    tricky = {"a": b"abc\r\nEND\r\n", "b": b"END\r\n", "c": "\r\nEND\r\n", "d": b""}
    mc.set_many(tricky)
    assert mc.get_many(list(tricky)) == tricky


# Two runs of quiet write answers (a lease lost, a value refused), then four meta gets: a hit
# whose value looks like the end, a miss, a placeholder someone else computes, a stale value.
META_REPLY = (
    b"NF\r\nMN\r\nSERVER_ERROR object too large for cache\r\nEX\r\nMN\r\n"
    b"VA 8 f16 c7\r\nxy\r\nMN\r\n\r\nEN\r\nVA 0 f0 c9 Z\r\n\r\nVA 3 f16 c12 X W\r\nold\r\nMN\r\n"
)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 16, 1000])
def test_a_meta_reply_is_read_whole_however_the_network_cuts_it(size: int) -> None:
    hits, leases, reply = read_meta(
        ChunkedSocket(META_REPLY, size),  # type: ignore[arg-type]
        deadline=float("inf"),
        keys=["a", "b", "c", "d"],
        quiet=2,
    )
    assert hits == [("a", 16, b"xy\r\nMN\r\n"), ("d", 16, b"old")]
    assert leases == {"c": (2, 9), "d": (4 | 1, 12)}
    assert reply == META_REPLY


def test_the_cas_of_a_hit_is_parsed_from_the_reply_only_when_asked_for() -> None:
    tokens: dict[str, bytes] = {}
    parsed = parse_meta(META_REPLY, ["a", "b", "c", "d"], 2, tokens)
    assert parsed is not None and parsed[2] == META_REPLY
    assert tokens == {"a": b"c7"}  # c and d have a lease state, with their cas in it


def test_a_meta_reply_to_an_old_memcached_says_to_turn_leases_off() -> None:
    with pytest.raises(ProtocolError, match="memcached before 1.6 has no meta commands"):
        read_meta(ChunkedSocket(b"ERROR\r\n", 100), float("inf"), ["a"], 0)  # type: ignore[arg-type]

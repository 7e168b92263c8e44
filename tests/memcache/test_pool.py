"""The server pool behind a client: placement, writes in one request per server, confirmation."""

from __future__ import annotations

from typing import Any

from asynq.memcache import MemcacheClient
from asynq.memcache.protocol import encode_gets, encode_writes


def test_the_pool_places_keys_where_the_client_says_they_live(memcached_cluster: Any) -> None:
    mc = MemcacheClient([s.address for s in memcached_cluster])
    pool = mc.pool
    assert pool.addresses == mc.servers
    assert pool.pairs == [(s.host, s.port) for s in pool.servers]
    keys = [f"k{i}" for i in range(40)]
    for key in keys:
        assert pool.servers[pool.index_for(key)].address == mc.server_for(key)
    groups = pool.group(keys)
    assert [index for index, _ in groups] == sorted({pool.index_for(k) for k in keys})
    assert sorted(k for _, group in groups for k in group) == sorted(keys)
    assert set(keys) <= set(pool.routed_keys())
    mc.close()


def test_writes_sent_through_the_pool_answer_in_the_order_given_across_servers(
    memcached_cluster: Any,
) -> None:
    mc = MemcacheClient([s.address for s in memcached_cluster])
    ops: list[Any] = [("set", f"w{i}", b"%d" % i, 0, 0, False, 0) for i in range(12)]
    ops.append(("delete", "never-stored", b"", 0, 0, False, 0))
    assert mc.pool.send(ops) == [True] * 12 + [False]
    assert mc.get_many([f"w{i}" for i in range(12)]) == {f"w{i}": b"%d" % i for i in range(12)}
    mc.close()


def test_write_backs_are_unconfirmed_until_the_client_flushes_them(mc: MemcacheClient) -> None:
    @mc.cached("pool.sq")
    def square(x: int) -> int:
        return x * x

    assert mc.pool.unconfirmed_writes() == {}
    with mc.request():
        assert square(3) == 9
        assert mc.write_backs.pending()
    # The end of the request sent the write-back and read memcached's confirmation.
    assert not mc.write_backs.pending()
    assert mc.pool.unconfirmed_writes() == {}
    assert not mc.pool.has_unconfirmed()
    assert mc.get("pool.sq:3") == 9


def test_a_classic_get_and_meta_gets_are_encoded_as_memcached_reads_them() -> None:
    flags = b" v f c N10\r\n"
    assert encode_gets(["a", "b"], False, set(), flags) == b"get a b\r\n"
    assert encode_gets(["a", "b"], True, set(), flags) == (
        b"mg a v f c N10\r\nmg b v f c N10\r\nmn\r\n"
    )
    assert encode_gets(["a", "b"], True, {"b"}, flags) == (
        b"mg a v f c N10\r\nmg b v f\r\nmn\r\n"
    )


def test_quiet_lease_writes_go_first_and_only_waiting_writes_expect_answers() -> None:
    request, waiting, quiet = encode_writes(
        [
            ("set", "a", b"1", 0, 5, True, 0),
            ("lease-set", "b", b"22", 3, 7, True, 42),
            ("delete", "c", b"", 0, 0, False, 0),
            ("release", "d", b"", 0, 0, True, 9),
        ]
    )
    assert request == (
        b"ms b 2 T7 F3 C42 q\r\n22\r\n"
        b"md d C9 q\r\n"
        b"mn\r\n"
        b"set a 0 5 1 noreply\r\n1\r\n"
        b"delete c\r\n"
    )
    assert waiting == [2]
    assert quiet is True

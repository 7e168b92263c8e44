"""mc.retarget(servers): an existing client reads and writes other servers, then goes back."""

from __future__ import annotations

from typing import Any

import pytest

from asynq import asynq
from asynq.memcache import MemcacheClient, MemcachedServer


@pytest.fixture
def other() -> Any:
    with MemcachedServer() as server:
        yield server


def test_a_retargeted_client_reads_and_writes_the_new_server_until_restored(
    memcached: Any, other: Any
) -> None:
    mc = MemcacheClient(other.address, key_prefix="app:")
    mc.set("where", "other")
    with mc.retarget(memcached.address) as same:
        assert same is mc
        assert mc.servers == [memcached.address]
        assert mc.get("where") is None
        mc.set("where", "test")
    assert mc.servers == [other.address]
    assert mc.get("where") == "other"
    with mc.retarget(memcached.address):
        assert mc.get("where") == "test"
    mc.close()


def test_cached_functions_captured_at_import_follow_the_client(memcached: Any, other: Any) -> None:
    mc = MemcacheClient(other.address)
    calls: list[int] = []

    @mc.cached("double")
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    @asynq()
    def both(x: int) -> Any:
        return (yield double.asynq(x), double.asynq(x + 1))

    assert both(1) == (2, 4)
    handle = mc.retarget(memcached.address)
    assert both(1) == (2, 4)  # the test server is empty: computed again, written there
    assert calls == [1, 2, 1, 2]
    assert both(1) == (2, 4)
    assert calls == [1, 2, 1, 2]
    handle.restore()
    handle.restore()  # once only
    assert repr(handle) == f"<Retarget of <MemcacheClient {other.address}> (restored)>"
    assert both(1) == (2, 4)
    assert calls == [1, 2, 1, 2]
    mc.close()


def test_a_cluster_client_can_be_pointed_at_one_server_and_back(
    memcached: Any, memcached_cluster: Any
) -> None:
    addresses = [s.address for s in memcached_cluster]
    mc = MemcacheClient(addresses)
    with mc.retarget(memcached.address):
        mc.set_many({f"k{i}": i for i in range(20)})
        assert mc.get_many([f"k{i}" for i in range(20)]) == {f"k{i}": i for i in range(20)}
        assert {mc.server_for(f"k{i}") for i in range(20)} == {memcached.address}
    assert mc.servers == addresses
    assert len({mc.server_for(f"k{i}") for i in range(20)}) > 1
    mc.close()


def test_pending_write_backs_go_to_the_old_server_before_the_switch(
    memcached: Any, other: Any
) -> None:
    mc = MemcacheClient(other.address)

    @mc.cached("name")
    def name(uid: int) -> str:
        return f"user {uid}"

    with mc.request():
        assert name(1) == "user 1"
        handle = mc.retarget(memcached.address)
    handle.restore()
    assert mc.get("name:1") == "user 1"
    mc.close()


def test_retargeting_inside_a_running_task_is_refused(memcached: Any) -> None:
    mc = MemcacheClient(memcached.address)

    @asynq()
    def inside() -> Any:
        mc.retarget("127.0.0.1:1")
        yield None

    with pytest.raises(RuntimeError) as error:
        inside()
    message = str(error.value)
    assert message.startswith(f"<MemcacheClient {memcached.address}>.retarget() was called inside the running task ")
    assert message.endswith(
        "; tasks of other requests share the client, so point it elsewhere before the top-level "
        "call (e.g. in a test's setup)"
    )
    assert mc.servers == [memcached.address]


def test_retargeting_to_something_that_is_not_an_address_is_refused(memcached: Any) -> None:
    mc = MemcacheClient(memcached.address)
    with pytest.raises(TypeError, match="MemcacheClient\\(servers\\) expects"):
        mc.retarget(11211)
    assert mc.servers == [memcached.address]

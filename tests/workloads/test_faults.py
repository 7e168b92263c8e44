"""Faults: docs/memcache.md, "A server that is down, refuses connections, answers nonsense or is
slower than ``read_timeout`` turns its keys into misses: cached functions compute the values and
try to write them back. No exception reaches user code and nothing waits longer than the
timeouts. ... A failed server keeps its keys (they are not moved to the others), so the rest of
the cluster is undisturbed."

Every workload runs in a thread that the test joins with a generous bound, only so that a hang
fails the test instead of stalling the run; no test asserts a duration.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asynq import asynq
from asynq.memcache import MemcacheClient
from workloads.helpers import assert_none_wrong, fresh_namespace

HANG_GUARD = 60.0  # seconds; far above any timeout the clients below are given
ITEMS = 40


def returns(workload: Callable[[], Any]) -> Any:
    """Run ``workload`` and give back its result or raise its exception; fail if it hangs."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = workload()
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    assert not thread.is_alive(), f"the workload did not return within {HANG_GUARD} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def expected(x: int) -> Any:
    return {"item": x, "square": x * x, "name": f"item {x}"}


def counted(client: MemcacheClient, ran: Counter[int]) -> Any:
    @client.cached(fresh_namespace("faults"))
    def item(x: int) -> Any:
        ran[x] += 1
        return expected(x)

    return item


def read_every_way(client: MemcacheClient, item: Any) -> list[str]:
    """Sync, yielded and in-scope reads of every item; what came back wrong."""

    @asynq()
    def together() -> Any:
        return (yield [item.asynq(x) for x in range(ITEMS)])

    wrong = []
    for label, read in [
        ("sync", lambda: [item(x) for x in range(ITEMS)]),
        ("yielded", together),
    ]:
        for x, got in enumerate(read()):
            if got != expected(x):
                wrong.append(f"{label} item({x}) = {got!r}")
    with client.request():
        for x, got in enumerate(together()):
            if got != expected(x):
                wrong.append(f"in a scope item({x}) = {got!r}")
    return wrong


@pytest.fixture
def cluster(memcached_factory: Any) -> Iterator[tuple[MemcacheClient, list[Any]]]:
    servers = memcached_factory(2)
    client = MemcacheClient(
        [server.address for server in servers],
        connect_timeout=0.3,
        read_timeout=0.3,
        retry_after=0.2,
    )
    yield client, servers
    for server in servers:
        if server.paused:
            server.resume()
    client.close()


def test_a_stopped_server_s_keys_are_computed_while_the_other_server_still_serves_its_own(
    cluster: tuple[MemcacheClient, list[Any]],
) -> None:
    client, (kept, stopped) = cluster
    ran: Counter[int] = Counter()
    item = counted(client, ran)
    assert [item(x) for x in range(ITEMS)] == [expected(x) for x in range(ITEMS)]
    on_stopped = {x for x in range(ITEMS) if client.server_for(item.key(x)) == stopped.address}
    assert 0 < len(on_stopped) < ITEMS, "the items are spread over both servers"

    stopped.stop()
    client.stats.reset()
    ran.clear()

    @asynq()
    def together() -> Any:
        return (yield [item.asynq(x) for x in range(ITEMS)])

    assert returns(together) == [expected(x) for x in range(ITEMS)]
    assert set(ran) == on_stopped, "only the stopped server's items are computed again"
    assert client.stats.errors >= 1
    assert_none_wrong(returns(lambda: read_every_way(client, item)), 3 * ITEMS)


def test_a_server_stopped_in_the_middle_of_a_request_turns_the_rest_into_misses(
    cluster: tuple[MemcacheClient, list[Any]],
) -> None:
    client, (_, stopped) = cluster
    ran: Counter[int] = Counter()
    item = counted(client, ran)
    assert [item(x) for x in range(ITEMS)] == [expected(x) for x in range(ITEMS)]

    def workload() -> list[str]:
        wrong = []
        with client.request():
            for x in range(ITEMS // 2):
                if item(x) != expected(x):
                    wrong.append(f"before the stop: item({x}) = {item(x)!r}")
            stopped.stop()
            for x in range(ITEMS):
                if (got := item(x)) != expected(x):
                    wrong.append(f"after the stop: item({x}) = {got!r}")
            for x, got in enumerate(item.asynq(x) for x in range(ITEMS)):
                if got.value() != expected(x):
                    wrong.append(f"after the stop, yielded: item({x}) = {got.value()!r}")
        return wrong

    assert_none_wrong(returns(workload), 3 * ITEMS)
    assert_none_wrong(returns(lambda: read_every_way(client, item)), 3 * ITEMS)


def test_a_frozen_server_s_keys_are_misses_and_it_is_used_again_once_it_answers(
    cluster: tuple[MemcacheClient, list[Any]],
) -> None:
    client, (_, frozen) = cluster
    ran: Counter[int] = Counter()
    item = counted(client, ran)
    assert [item(x) for x in range(ITEMS)] == [expected(x) for x in range(ITEMS)]
    on_frozen = {x for x in range(ITEMS) if client.server_for(item.key(x)) == frozen.address}

    frozen.pause()
    ran.clear()
    assert_none_wrong(returns(lambda: read_every_way(client, item)), 3 * ITEMS)
    assert set(ran) == on_frozen
    assert client.stats.errors >= 1

    frozen.resume()
    time.sleep(0.5)  # longer than retry_after: the server may be tried again
    ran.clear()
    assert returns(lambda: [item(x) for x in range(ITEMS)]) == [expected(x) for x in range(ITEMS)]
    assert ran == Counter(), "once it answers again, the server's items are hits"


def test_nothing_raises_when_the_only_server_is_down(memcached_factory: Any) -> None:
    (server,) = memcached_factory(1)
    client = MemcacheClient(server.address, connect_timeout=0.3, read_timeout=0.3)
    try:
        ran: Counter[int] = Counter()
        item = counted(client, ran)
        assert item(1) == expected(1)
        server.stop()

        def workload() -> Any:
            assert_none_wrong(read_every_way(client, item), 3 * ITEMS)
            assert client.get("anything") is None
            assert client.get_many(["a", "b"]) == {}
            assert isinstance(item.dirty(1), bool)
            client.set("k", "v")
            client.set_many({"k": "v"})
            client.delete("k")
            client.flush_writes()
            return item(2)

        assert returns(workload) == expected(2)
    finally:
        client.close()


class _Nonsense(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            while self.request.recv(65536):
                self.request.sendall(self.server.answer)  # type: ignore[attr-defined]
        except OSError:
            pass


class _Hangup(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.shutdown(socket.SHUT_RDWR)


@pytest.fixture(
    params=[
        pytest.param((_Nonsense, b"NONSENSE\r\n"), id="answers-nonsense"),
        pytest.param((_Nonsense, b"VALUE x 0 999999\r\nshort\r\n"), id="answers-a-truncated-value"),
        pytest.param((_Nonsense, b"SERVER_ERROR out of memory\r\n"), id="answers-server-error"),
        pytest.param((_Hangup, b""), id="hangs-up"),
    ]
)
def broken_server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler, answer = request.param
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_server_that_misbehaves_gives_misses_not_exceptions(broken_server: str) -> None:
    client = MemcacheClient(broken_server, connect_timeout=0.3, read_timeout=0.3)
    try:
        ran: Counter[int] = Counter()
        item = counted(client, ran)
        assert_none_wrong(returns(lambda: read_every_way(client, item)), 3 * ITEMS)
        assert returns(lambda: client.get("anything")) is None
        assert client.stats.errors >= 1
    finally:
        client.close()

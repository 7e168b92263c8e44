"""Faults: a server that is down, refuses, hangs or talks nonsense turns its keys into misses."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from asynq import asynq
from asynq.memcache import MemcacheClient, MemcachedServer, RoundTrip
from asynq.memcache.server import free_port

from .blog import build, expected_page


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An address that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def nonsense_server() -> Iterator[str]:
    """An address whose server answers every command with a line memcached never sends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(b"HELLO THERE\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_a_refused_server_makes_misses_and_the_body_still_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mc = MemcacheClient(f"127.0.0.1:{free_port()}", retry_after=0)

    @mc.cached("square")
    def square(x: int) -> int:
        return x * x

    with caplog.at_level(logging.WARNING, logger="asynq.memcache"):
        assert [square(2), square(3), square(2)] == [4, 9, 4]
        assert mc.get("anything") is None
        assert mc.set("k", 1) is False
    assert mc.stats.errors >= 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "logged once per server per interval"
    assert "treated as misses" in warnings[0].getMessage()


def test_a_server_that_never_answers_costs_one_timeout_then_misses(silent_server: str) -> None:
    mc = MemcacheClient(silent_server, read_timeout=0.2, connect_timeout=0.2, retry_after=60)

    @mc.cached("slow")
    def slow(x: int) -> int:
        return x + 1

    @asynq()
    def page() -> Any:
        return (yield [slow.asynq(i) for i in range(5)])

    assert page() == [1, 2, 3, 4, 5]
    assert page() == [1, 2, 3, 4, 5]  # backed off: not even tried
    assert mc.stats.errors == 1
    assert mc.stats.round_trips == 2 and mc.stats.hits == 0


def test_a_paused_memcached_is_bounded_by_the_read_timeout_and_used_again_when_it_resumes() -> None:
    with MemcachedServer() as server:
        mc = MemcacheClient(server.address, read_timeout=0.2, retry_after=0)
        mc.set("k", "v")
        server.pause()
        try:
            assert mc.get("k") is None
        finally:
            server.resume()
        assert mc.stats.errors == 1
        assert mc.get("k") == "v"


def test_a_server_that_talks_nonsense_is_a_fault_not_an_exception(nonsense_server: str) -> None:
    mc = MemcacheClient(nonsense_server, retry_after=0)
    assert mc.get_many(["a", "b"]) == {}
    assert mc.stats.errors == 1


def test_stopping_one_server_in_the_middle_of_a_run_keeps_results_correct() -> None:
    servers = [MemcachedServer().start() for _ in range(3)]
    try:
        mc = MemcacheClient([s.address for s in servers], retry_after=60)
        blog = build(mc, answers=8, upvoters=5, users=30)
        page = blog.fns["page_asynq"]
        assert page(blog.answers) == expected_page(blog)  # cold: fills the cache

        victim = servers[1]

        def stop_after_first_round(trip: RoundTrip) -> None:
            if victim.running:
                victim.stop()

        mc.on_round_trip.subscribe(stop_after_first_round)
        mc.stats.reset()
        blog.db_reads.clear()
        assert page(blog.answers) == expected_page(blog)
        assert mc.stats.errors >= 1
        lost = {
            k for k in mc.pool.routed_keys() if mc.server_for(k) == victim.address and k.startswith("users")
        }
        assert lost, "the stopped server held some of the names"
        assert {("name", int(k.split(":")[1])) for k in lost} <= set(blog.db_reads)
    finally:
        for server in servers:
            server.stop()


def test_a_server_that_comes_back_on_its_port_is_used_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = MemcachedServer().start()
    port = server.port
    mc = MemcacheClient(server.address, retry_after=0)
    try:
        mc.set("k", 1)
        server.stop()
        assert mc.get("k") is None
        server = MemcachedServer(port=port).start()
        with caplog.at_level(logging.INFO, logger="asynq.memcache"):
            assert mc.set("k", 2) is True
            assert mc.get("k") == 2
        assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        server.stop()


def test_write_backs_to_a_down_server_are_dropped_quietly() -> None:
    mc = MemcacheClient(f"127.0.0.1:{free_port()}", retry_after=60)

    @mc.cached("n")
    def n(x: int) -> int:
        return x

    @asynq()
    def page() -> Any:
        return (yield [n.asynq(i) for i in range(3)])

    assert page() == [0, 1, 2]
    assert mc.stats.sets == 0


class Deadline(Exception):
    """What a request deadline raised from a signal handler looks like to the client."""


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, Deadline])
def test_an_interruption_in_the_middle_of_a_reply_never_leaves_it_for_the_next_read(
    memcached: Any, monkeypatch: pytest.MonkeyPatch, interruption: type[BaseException]
) -> None:
    import asynq.memcache.protocol as protocol_module

    mc = MemcacheClient(memcached.address)
    other = MemcacheClient(memcached.address)
    assert mc.set("k", "old")
    recv = protocol_module.recv
    interrupted: list[bool] = []

    def interrupt_once(sock: socket.socket, deadline: float) -> bytes:
        if not interrupted:
            interrupted.append(True)
            raise interruption("deadline")
        return recv(sock, deadline)

    monkeypatch.setattr(protocol_module, "recv", interrupt_once)
    with pytest.raises(interruption):
        mc.get("k")
    assert other.set("k", "new")
    assert mc.get("k") == "new"  # not the reply the interruption left unread
    # The user's interruption is not the server's fault: it is not marked down or counted.
    assert mc.stats.errors == 0
    assert mc.get_many(["k"]) == {"k": "new"}
    other.close()
    mc.close()


def test_a_value_over_memcacheds_item_limit_is_not_stored_and_the_server_stays_healthy(
    memcached: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mc = MemcacheClient(memcached.address, retry_after=60)
    with caplog.at_level(logging.WARNING, logger="asynq.memcache"):
        assert mc.set("huge", "x" * (2 * 1024 * 1024)) is False
        assert mc.set_many({"huge": b"y" * (2 * 1024 * 1024), "small": 1}) == ["huge"]
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    message = caplog.records[0].getMessage()
    assert "did not store huge: SERVER_ERROR object too large for cache" in message
    assert "the value is 2097152 bytes" in message
    assert mc.stats.errors == 0
    assert mc.get("small") == 1  # the server is not marked down
    assert mc.set("k", "v") is True and mc.get("k") == "v"


@pytest.fixture
def error_server() -> Iterator[str]:
    """An address whose server answers every get with memcached's SERVER_ERROR line."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(b"SERVER_ERROR out of memory writing get response\r\n")
                    conn.recv(65536)  # keeps the connection open: only the reply can end it
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_an_error_reply_to_a_get_is_a_fault_at_once_not_a_timeout(
    error_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    mc = MemcacheClient(error_server, read_timeout=30, retry_after=60)
    with caplog.at_level(logging.WARNING, logger="asynq.memcache"):
        assert mc.get("k") is None
    assert mc.stats.errors == 1
    message = caplog.records[0].getMessage()
    assert "ProtocolError" in message and "SERVER_ERROR out of memory" in message


class TrickleProxy:
    """A proxy to a real memcached that passes requests on at once and replies one byte per
    ``interval`` seconds: a server that is slow without ever being silent."""

    def __init__(self, target: str, interval: float) -> None:
        self.target = target
        self.interval = interval
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.stop = threading.Event()
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.threads: list[threading.Thread] = []
        self.start(self.accept)

    def start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def accept(self) -> None:
        host, port = self.target.split(":")
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection((host, int(port)))
            self.start(self.pipe, client, server, False)
            self.start(self.pipe, server, client, True)

    def pipe(self, source: socket.socket, sink: socket.socket, trickle: bool) -> None:
        source.settimeout(0.05)
        try:
            while not self.stop.is_set():
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                if not trickle:
                    sink.sendall(data)
                    continue
                for i in range(len(data)):
                    if self.stop.wait(self.interval):
                        return
                    sink.sendall(data[i : i + 1])
        except OSError:
            pass
        finally:
            source.close()
            sink.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=2)


@pytest.mark.parametrize("operation", ["set", "set_many", "delete", "dirty"])
def test_a_server_that_trickles_its_reply_is_bounded_by_one_read_timeout_per_call(
    _memcached_process: MemcachedServer, operation: str
) -> None:
    proxy = TrickleProxy(_memcached_process.address, interval=0.3)
    try:
        mc = MemcacheClient(proxy.address, read_timeout=0.5, retry_after=60)

        @mc.cached("slow")
        def slow(x: int) -> int:
            return x

        calls = {
            "set": lambda: mc.set("k", "v"),
            "set_many": lambda: mc.set_many({"k": "v"}) == [],
            "delete": lambda: mc.delete("k"),
            "dirty": lambda: slow.dirty(1),
        }
        # "STORED\r\n" one byte per 0.3 s takes 2.4 s: no call may wait for all of it.
        assert calls[operation]() is False
        assert mc.stats.errors == 1
    finally:
        proxy.close()

"""asynq.web.WSGIMiddleware and request_scope on a bare WSGI app, against a real memcached."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from asynq.loaders import loader
from asynq.memcache import MemcacheClient
from asynq.web import ASGIMiddleware, WSGIMiddleware, request_scope


@pytest.fixture
def mc(memcached: Any) -> Iterator[MemcacheClient]:
    client = MemcacheClient(memcached.address)
    yield client
    client.close()


def call(app: Any, path: str = "/") -> tuple[list[bytes], Any]:
    """Run one request the way a WSGI server does: iterate the body, then close it."""
    started: list[Any] = []
    body = app({"PATH_INFO": path}, lambda status, headers: started.append(status))
    try:
        return list(body), body
    finally:
        body.close()


def test_the_top_level_calls_of_one_request_share_loads_and_memcached_reads(
    mc: MemcacheClient, round_trips: Any
) -> None:
    batches: list[list[int]] = []

    @loader()
    def load_users(uids: list[int]) -> list[str]:
        batches.append(list(uids))
        return [f"user {uid}" for uid in uids]

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        first = load_users(1), mc.get("greeting")
        second = load_users(1), mc.get("greeting")  # both from the request's caches
        return [repr((first, second)).encode()]

    wrapped = WSGIMiddleware(app, mc)
    mc.set("greeting", "hi")
    with round_trips(mc, exactly=1):
        body, _ = call(wrapped)
    assert body == [repr((("user 1", "hi"), ("user 1", "hi"))).encode()]
    assert batches == [[1]]
    with round_trips(mc, exactly=1):
        call(wrapped)  # the next request starts with empty caches
    assert batches == [[1], [1]]


def test_a_streamed_body_reads_through_the_request_cache_until_the_server_closes_it(
    mc: MemcacheClient, round_trips: Any
) -> None:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        for _ in range(3):
            yield str(mc.get("k")).encode()

    mc.set("k", 7)
    with round_trips(mc, exactly=1):
        body, _ = call(WSGIMiddleware(app, mc))
    assert body == [b"7", b"7", b"7"]
    with round_trips(mc, exactly=2):  # outside any request: each call reads memcached
        mc.get("k")
        mc.get("k")


def test_an_application_error_ends_the_request_scope(mc: MemcacheClient, round_trips: Any) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        mc.get("k")
        raise LookupError("no page")

    with pytest.raises(LookupError):
        WSGIMiddleware(app, mc)({}, lambda *args: None)
    with round_trips(mc, exactly=2):
        mc.get("k")
        mc.get("k")


def test_request_scope_works_without_a_framework(mc: MemcacheClient, round_trips: Any) -> None:
    with round_trips(mc, exactly=1):
        with request_scope(mc):
            mc.get("k")
            mc.get("k")


def test_the_middleware_and_request_scope_need_clients() -> None:
    with pytest.raises(TypeError) as error:
        WSGIMiddleware(lambda environ, start_response: [])
    assert str(error.value) == (
        "WSGIMiddleware needs the MemcacheClient(s) whose reads a request should share, got "
        "none; for example WSGIMiddleware(app, mc) with your module-level mc = MemcacheClient(...)"
    )
    with pytest.raises(TypeError) as error:
        with request_scope():
            pass
    assert str(error.value).startswith("request_scope needs the MemcacheClient(s)")


def test_the_middleware_refuses_what_is_not_a_client_or_an_app(mc: MemcacheClient) -> None:
    with pytest.raises(TypeError) as error:
        ASGIMiddleware(lambda *args: None, "127.0.0.1:11211")  # type: ignore[arg-type]
    assert str(error.value) == (
        "ASGIMiddleware expects asynq.memcache.MemcacheClient objects, got str: "
        "'127.0.0.1:11211'; pass the client your @mc.cached functions use"
    )
    with pytest.raises(TypeError) as error:
        WSGIMiddleware(mc)  # type: ignore[arg-type]
    assert str(error.value).startswith(
        "WSGIMiddleware(app, *clients) expects the WSGI application first, got MemcacheClient: "
    )
    assert str(error.value).endswith("with Flask: app.wsgi_app = WSGIMiddleware(app.wsgi_app, mc)")


def test_when_the_server_closes_the_response_memcached_has_applied_the_write_backs(
    mc: MemcacheClient, memcached: Any
) -> None:
    @mc.cached("wsgi-name")
    def name_of(uid: int) -> str:
        return f"user {uid}"

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [name_of(1).encode(), name_of(2).encode()]

    body, _ = call(WSGIMiddleware(app, mc))
    assert body == [b"user 1", b"user 2"]
    # Nothing in flight on the request's connection: a request served next by another thread
    # (or process) reads the values, not the lease placeholders.
    assert mc.pool.unconfirmed_writes() == {}
    with MemcacheClient(memcached.address) as other:
        assert other.get_many(["wsgi-name:1", "wsgi-name:2"]) == {
            "wsgi-name:1": "user 1",
            "wsgi-name:2": "user 2",
        }


def test_a_request_scope_ends_with_its_write_backs_applied(mc: MemcacheClient) -> None:
    from asynq import asynq

    @mc.cached("scoped-name")
    def name_of(uid: int) -> str:
        return f"user {uid}"

    @asynq()
    def names() -> Any:
        return (yield [name_of.asynq(1), name_of.asynq(2)])

    with request_scope(mc):
        assert names() == ["user 1", "user 2"]
    assert mc.pool.unconfirmed_writes() == {}


def test_another_threads_round_leaves_a_requests_write_backs_to_that_request(
    mc: MemcacheClient, memcached: Any
) -> None:
    import threading

    @mc.cached("own-name")
    def name_of(uid: int) -> str:
        return f"user {uid}"

    with mc.request() as scope:
        assert name_of(1) == "user 1"  # computed; its write-back waits for this request
        other = threading.Thread(target=lambda: mc.get_many(["unrelated"]))
        other.start()
        other.join()
        # The other thread's round did not send it: it could not have waited for memcached's
        # answer on this request's behalf.
        assert scope.writes is not None and [op[1] for op in scope.writes] == ["own-name:1"]
    assert scope.writes is None and mc.pool.unconfirmed_writes() == {}
    with MemcacheClient(memcached.address) as reader:
        assert reader.get("own-name:1") == "user 1"

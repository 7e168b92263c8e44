"""asynq.web.ASGIMiddleware with Starlette's TestClient against a real memcached, and two
requests interleaved on one event loop: each HTTP request has its own request scope."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from asynq import asynq
from asynq.memcache import MemcacheClient
from asynq.memcache.request import scope_for_new_roots
from asynq.web import ASGIMiddleware

USERS = {1: "Ada", 2: "Alan", 3: "Grace"}
UPVOTERS = {10: [1, 2], 11: [2, 3]}
PAGE_KEYS = [
    ["asgi:upvoters:10", "asgi:upvoters:11"],
    ["asgi:name:1", "asgi:name:2", "asgi:name:3"],
]


def make_models(mc: MemcacheClient) -> SimpleNamespace:
    @mc.cached("name")
    def name_of_user(uid: int) -> str:
        return USERS[uid]

    @mc.cached("upvoters")
    def upvoters_of_answer(aid: int) -> list[int]:
        return UPVOTERS[aid]

    @asynq()
    def upvoter_names(aid: int) -> Any:
        uids = yield upvoters_of_answer.asynq(aid)
        return (yield [name_of_user.asynq(uid) for uid in uids])

    @asynq()
    def answer_cards(aids: list[int]) -> Any:
        return (yield [upvoter_names.asynq(aid) for aid in aids])

    return SimpleNamespace(name_of_user=name_of_user, answer_cards=answer_cards)


@pytest.fixture
def mc(memcached: Any) -> Iterator[MemcacheClient]:
    client = MemcacheClient(memcached.address, key_prefix="asgi:")
    yield client
    client.close()


def make_app(mc: MemcacheClient, middleware: bool = True) -> Any:
    models = make_models(mc)

    async def async_page(request: Request) -> JSONResponse:
        aids = [int(a) for a in request.query_params["ids"].split(",")]
        cards = await models.answer_cards.asyncio(aids)
        viewer = await models.name_of_user.asyncio(int(request.query_params["viewer"]))
        return JSONResponse({"cards": cards, "viewer": viewer})

    def sync_page(request: Request) -> JSONResponse:  # Starlette runs it in a thread pool
        aids = [int(a) for a in request.query_params["ids"].split(",")]
        cards = models.answer_cards(aids)
        viewer = models.name_of_user(int(request.query_params["viewer"]))
        return JSONResponse({"cards": cards, "viewer": viewer})

    app = Starlette(routes=[Route("/async", async_page), Route("/sync", sync_page)])
    return ASGIMiddleware(app, mc) if middleware else app


EXPECTED = {"cards": [["Ada", "Alan"], ["Alan", "Grace"]], "viewer": "Ada"}


@pytest.mark.parametrize("path", ["/async", "/sync"])
def test_a_warm_request_is_two_round_trips_the_viewer_served_by_the_request_cache(
    mc: MemcacheClient, round_trips: Any, path: str
) -> None:
    with TestClient(make_app(mc)) as client:
        assert client.get(f"{path}?ids=10,11&viewer=1").json() == EXPECTED  # cold
        for _ in range(2):
            with round_trips(mc, exactly=2, keys=PAGE_KEYS):
                assert client.get(f"{path}?ids=10,11&viewer=1").json() == EXPECTED


@pytest.mark.parametrize("path", ["/async", "/sync"])
def test_without_the_middleware_the_viewer_costs_a_round_trip_of_its_own(
    mc: MemcacheClient, round_trips: Any, path: str
) -> None:
    with TestClient(make_app(mc, middleware=False)) as client:
        client.get(f"{path}?ids=10,11&viewer=1")
        with round_trips(mc, exactly=3) as rt:
            client.get(f"{path}?ids=10,11&viewer=1")
    assert rt.keys[2] == ["asgi:name:1"]


def test_interleaved_requests_on_one_loop_each_have_their_own_scope_and_share_rounds(
    mc: MemcacheClient, round_trips: Any
) -> None:
    models = make_models(mc)
    mc.set_many({"name:1": "Ada", "name:2": "Alan"})
    seen: dict[int, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        uid = scope["uid"]
        first = await models.name_of_user.asyncio(uid)
        await asyncio.sleep(0)  # the other request runs here
        second = await models.name_of_user.asyncio(uid)  # from this request's cache
        request_scope = scope_for_new_roots(mc)
        seen[uid] = (first, second, request_scope, request_scope.values.copy())

    async def two_requests() -> None:
        wrapped = ASGIMiddleware(app, mc)
        await asyncio.gather(
            wrapped({"type": "http", "uid": 1}, None, None),
            wrapped({"type": "http", "uid": 2}, None, None),
        )

    with round_trips(mc, exactly=1) as rt:
        asyncio.run(two_requests())
    assert sorted(rt.keys[0]) == ["asgi:name:1", "asgi:name:2"]
    assert seen[1][:2] == ("Ada", "Ada") and seen[2][:2] == ("Alan", "Alan")
    assert seen[1][2] is not seen[2][2]
    assert seen[1][3] == {"asgi:name:1": "Ada"} and seen[2][3] == {"asgi:name:2": "Alan"}
    assert seen[1][2].closed and seen[2][2].closed
    assert scope_for_new_roots(mc) is None


def test_lifespan_messages_pass_through_without_a_scope(mc: MemcacheClient) -> None:
    calls: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append((scope["type"], scope_for_new_roots(mc)))

    asyncio.run(ASGIMiddleware(app, mc)({"type": "lifespan"}, None, None))
    assert calls == [("lifespan", None)]


def test_loaders_share_one_cache_per_request_and_requests_keep_theirs_apart(
    mc: MemcacheClient,
) -> None:
    from asynq.loaders import loader

    calls: list[list[str]] = []

    @loader(cache=True)
    def load(keys: list[str]) -> list[str]:
        calls.append(sorted(keys))
        return [key.upper() for key in keys]

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        key = scope["key"]
        first = await load.asyncio(key)
        await asyncio.sleep(0)
        seen[key] = (first, await load.asyncio(key), load(key))  # the last one synchronous

    async def two_requests() -> None:
        wrapped = ASGIMiddleware(app, mc)
        await asyncio.gather(
            wrapped({"type": "http", "key": "a"}, None, None),
            wrapped({"type": "http", "key": "b"}, None, None),
        )

    asyncio.run(two_requests())
    assert seen == {"a": ("A", "A", "A"), "b": ("B", "B", "B")}
    assert calls == [["a", "b"]]
    asyncio.run(two_requests())
    assert calls == [["a", "b"], ["a", "b"]]  # a new request starts with empty caches


# -- a request that ended has its write-backs applied ------------------------------------------
#
# Write-backs are quiet: memcached answers them only with the ``mn`` that ends their run. A
# request that returned while a run was unanswered left them in flight, and the next request,
# reading on another connection (the asyncio flush thread's, another threadpool thread's,
# another process's), could find the lease placeholders still there and wait for them.

ALL_KEYS = PAGE_KEYS[0] + PAGE_KEYS[1]


def in_flight(mc: MemcacheClient) -> dict[str, dict[str, int]]:
    """The runs of quiet writes memcached has not answered yet, on this thread (the event
    loop's, under asyncio.run) and on this loop thread's flush thread."""
    from asynq.asyncio_interop import _thread

    flush = _thread.executor().submit(lambda: mc.pool.unconfirmed_writes()).result()
    return {"loop": mc.pool.unconfirmed_writes(), "flush": flush}


def stored(memcached: Any, keys: list[str]) -> list[str]:
    """The keys another client, on its own connection, finds in memcached."""
    with MemcacheClient(memcached.address) as other:
        return sorted(other.get_many(keys))


def test_when_an_async_request_returns_memcached_has_applied_its_write_backs(
    mc: MemcacheClient, memcached: Any
) -> None:
    models = make_models(mc)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await models.answer_cards.asyncio([10, 11])

    asyncio.run(ASGIMiddleware(app, mc)({"type": "http"}, None, None))
    assert in_flight(mc) == {"loop": {}, "flush": {}}
    assert stored(memcached, ALL_KEYS) == sorted(ALL_KEYS)


def test_under_the_asyncio_driver_a_rounds_write_backs_go_out_with_the_next_round(
    mc: MemcacheClient, memcached: Any
) -> None:
    models = make_models(mc)
    seen: list[list[str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        # Two rounds: the upvoters (computed on the loop thread after round 1) are written
        # back with round 2's gets, on the flush thread, before the request ends.
        await models.answer_cards.asyncio([10, 11])
        seen.append(stored(memcached, PAGE_KEYS[0]))

    asyncio.run(ASGIMiddleware(app, mc)({"type": "http"}, None, None))
    assert seen == [sorted(PAGE_KEYS[0])]


def test_a_threadpool_endpoints_write_backs_are_sent_when_the_request_ends(
    mc: MemcacheClient, memcached: Any
) -> None:
    models = make_models(mc)

    def cards(request: Request) -> JSONResponse:  # run in a threadpool thread
        return JSONResponse(models.answer_cards([10, 11]))

    app = ASGIMiddleware(Starlette(routes=[Route("/cards", cards)]), mc)
    with TestClient(app) as client:
        assert client.get("/cards").json() == EXPECTED["cards"]
        # The threadpool thread that computed the names never reads again; the request's end
        # sent what it queued.
        assert stored(memcached, ALL_KEYS) == sorted(ALL_KEYS)


def test_a_request_that_wrote_nothing_sends_nothing_when_it_ends(
    mc: MemcacheClient, round_trips: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = make_models(mc)
    sent: list[Any] = []
    monkeypatch.setattr("asynq.web.run_on_flush_thread", lambda *args: sent.append(args))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await models.answer_cards.asyncio([10, 11])

    mc.set_many({"upvoters:10": [1, 2], "upvoters:11": [2, 3]})
    mc.set_many({f"name:{uid}": name for uid, name in USERS.items()})
    with round_trips(mc, exactly=2):
        asyncio.run(ASGIMiddleware(app, mc)({"type": "http"}, None, None))
    assert sent == []


def test_a_with_request_block_under_the_asyncio_driver_ends_with_its_write_backs_applied(
    mc: MemcacheClient, memcached: Any
) -> None:
    models = make_models(mc)

    async def handler() -> Any:
        with mc.request():
            return await models.answer_cards.asyncio([10, 11])

    assert asyncio.run(handler()) == EXPECTED["cards"]
    assert in_flight(mc) == {"loop": {}, "flush": {}}
    assert stored(memcached, ALL_KEYS) == sorted(ALL_KEYS)

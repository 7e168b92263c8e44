"""Request scopes for web applications: one per HTTP request, for WSGI, ASGI and Django.

A web back end reads its cache from model functions called all over a request: a view, its
templates, helpers. Each top-level call would otherwise be a request of its own, and read the same
keys again. The middleware here makes every HTTP request one request (``asynq.request_roots``:
one ``RequestStorage``), in which each memcached client has its *request scope*, a request-local
cache in which each key is fetched at most once, with the pending write-backs sent when the
request ends, and every loader its request cache.

    app.wsgi_app = WSGIMiddleware(app.wsgi_app, mc)          # Flask, or any WSGI app
    app = ASGIMiddleware(app, mc)                            # Starlette, FastAPI, any ASGI app
    MIDDLEWARE = [..., "asynq.web.DjangoMiddleware"]         # Django, with ASYNQ_MEMCACHE_CLIENTS

A WSGI request is handled on one thread from start to end, so its request is an ordinary ``with
RequestStorage():`` block around the application and the response iterable. An ASGI server runs
many requests on one event loop thread, interleaved at every ``await``, so a thread-wide request
would mix them: the ASGI middleware instead makes the request's storage the context that its root
tasks start in (``asynq.contexts.contexts_for_new_roots``, a context variable, so each request
sees its own). Every ``await f.asyncio(...)``, and every synchronous call in a threadpool
endpoint, then reads through the request's caches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from contextlib import ExitStack, contextmanager
from typing import Any

from .asyncio_interop import run_on_flush_thread
from .contexts import contexts_for_new_roots
from .memcache.client import MemcacheClient
from .memcache.request import RequestScope, scope_in
from .request_roots import RequestStorage

__all__ = ["ASGIMiddleware", "DjangoMiddleware", "WSGIMiddleware", "request_scope"]

_Environ = dict[str, Any]
_StartResponse = Callable[..., Any]
_WSGIApp = Callable[[_Environ, _StartResponse], Iterable[bytes]]
_ASGIScope = MutableMapping[str, Any]
_ASGIApp = Callable[
    [_ASGIScope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def _check_clients(clients: Iterable[Any], where: str) -> tuple[MemcacheClient, ...]:
    out = tuple(clients)
    if not out:
        raise TypeError(
            f"{where} needs the MemcacheClient(s) whose reads a request should share, got "
            f"none; for example {where}(app, mc) with your module-level mc = MemcacheClient(...)"
        )
    for client in out:
        if not isinstance(client, MemcacheClient):
            raise TypeError(
                f"{where} expects asynq.memcache.MemcacheClient objects, got "
                f"{type(client).__name__}: {client!r}; pass the client your @mc.cached "
                "functions use"
            )
    return out


@contextmanager
def request_scope(*clients: MemcacheClient) -> Iterator[None]:
    """One request on this thread (a ``RequestStorage`` block), so that the top-level calls
    made inside share what they read, through every client and loader. Each client's pending
    write-backs are sent, and confirmed, when the block ends."""
    checked = _check_clients(clients, "request_scope")
    with RequestStorage() as storage:
        for client in checked:
            scope_in(storage, client)  # made now: it confirms the write-backs at the end
        yield


class _ClosingResponse:
    """A WSGI response iterable that ends the request's scopes when the server closes it."""

    def __init__(self, body: Iterable[bytes], stack: ExitStack) -> None:
        self._body = body
        self._stack = stack

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._stack.close()


class WSGIMiddleware:
    """WSGI middleware: each HTTP request is one ``request_scope(*clients)``.

    The scope stays open while the server reads the response (a streamed body reads through the
    same cache) and ends when the server closes the response, as WSGI servers must.
    """

    def __init__(self, app: _WSGIApp, *clients: MemcacheClient) -> None:
        if not callable(app):
            raise TypeError(
                f"WSGIMiddleware(app, *clients) expects the WSGI application first, got "
                f"{type(app).__name__}: {app!r}; with Flask: "
                "app.wsgi_app = WSGIMiddleware(app.wsgi_app, mc)"
            )
        self.app = app
        self.clients = _check_clients(clients, "WSGIMiddleware")

    def __call__(self, environ: _Environ, start_response: _StartResponse) -> Iterable[bytes]:
        stack = ExitStack()
        stack.enter_context(request_scope(*self.clients))
        try:
            body = self.app(environ, start_response)
        except BaseException:
            stack.close()
            raise
        return _ClosingResponse(body, stack)


class ASGIMiddleware:
    """ASGI middleware: each HTTP request (and WebSocket connection) is one request (a
    ``RequestStorage``: a scope per client, the loaders' caches), which every root task of the
    request starts in; other messages (``lifespan``) pass through. When the application returns,
    the request's write-backs are sent and applied by memcached before the middleware
    returns."""

    def __init__(self, app: _ASGIApp, *clients: MemcacheClient) -> None:
        if not callable(app):
            raise TypeError(
                f"ASGIMiddleware(app, *clients) expects the ASGI application first, got "
                f"{type(app).__name__}: {app!r}; for example app = ASGIMiddleware(app, mc)"
            )
        self.app = app
        self.clients = _check_clients(clients, "ASGIMiddleware")

    async def __call__(
        self,
        scope: _ASGIScope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        storage = RequestStorage()
        scopes = [s for c in self.clients if (s := scope_in(storage, c)) is not None]
        try:
            with contexts_for_new_roots(storage):
                await self.app(scope, receive, send)
        finally:
            # The request ends without I/O on the loop thread: its scopes close first, leaving
            # their write-backs queued, then the request's storage (the loaders' caches go).
            for request in scopes:
                request.close(flush=False)
            storage.close()
            # The request's write-backs were queued by the loop thread (await f.asyncio(...))
            # or by threadpool threads (synchronous endpoints). Send them from the loop's flush
            # thread, on the connection the loop's reads use, and return once memcached has
            # applied them: a request that starts after this one returned sees them, and the
            # loop is not blocked meanwhile. A request that wrote nothing skips this.
            if any(request.writes or request.client.write_backs.pending() for request in scopes):
                await run_on_flush_thread(_apply_writes, scopes)


def _apply_writes(scopes: list[RequestScope]) -> None:
    for request in scopes:
        request.client.write_backs.send(confirm=True, scope=request)


class DjangoMiddleware:
    """Django middleware: each request is one ``request_scope(*clients)``.

    Add ``"asynq.web.DjangoMiddleware"`` to ``MIDDLEWARE`` and name the clients in the setting
    ``ASYNQ_MEMCACHE_CLIENTS``: a list of ``MemcacheClient`` objects or of dotted paths to them
    (``["myapp.models.mc"]``). A streaming response is read after the scope has ended.
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.conf import settings
        from django.utils.module_loading import import_string

        names = getattr(settings, "ASYNQ_MEMCACHE_CLIENTS", None)
        if not names or isinstance(names, (str, MemcacheClient)):
            raise TypeError(
                "asynq.web.DjangoMiddleware needs the setting ASYNQ_MEMCACHE_CLIENTS: a list of "
                "your MemcacheClient objects or dotted paths to them, e.g. "
                f'ASYNQ_MEMCACHE_CLIENTS = ["myapp.models.mc"]; got {names!r}'
            )
        clients = [import_string(n) if isinstance(n, str) else n for n in names]
        self.clients = _check_clients(clients, "DjangoMiddleware")
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        with request_scope(*self.clients):
            return self.get_response(request)

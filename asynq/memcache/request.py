"""Request scopes: within one request, each memcached key is fetched at most once.

A scope holds the request-local cache of one client: the values read or computed so far
(``values``, a miss recorded as ``MISSING``) and the futures of keys being fetched or computed
(``inflight``), so that a second read of a key joins the first instead of asking again.

A scope is not a request of its own: it is the client's entry in the request's
``RequestStorage`` (``asynq.request_roots``), the one request-local storage that the loaders'
caches live in too, and it is closed when that storage is: when the request ends. Which
request a read belongs to is ``request_roots.current_storage()``: a ``with mc.request():``
block (or any explicit request: a web middleware's, ``loaders.request_scope()``, the one
legacy priming opens), else the running task's request root, else (a top-level call outside
any request) a request of the call's own, which ends when the call's future is computed.

Closing a scope sends the client's pending write-backs (queued by any thread) and waits until
memcached has applied them.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..futures import FutureBase
from ..request_roots import RequestStorage, current_storage, storage_for_new_roots

if TYPE_CHECKING:
    from .cached import CachedFunction
    from .client import MemcacheClient

__all__ = [
    "MISSING",
    "RequestBlock",
    "RequestScope",
    "current_scope",
    "scope_for_call",
    "scope_for_new_roots",
    "scope_in",
]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: What the request-local cache holds for a key that memcached did not have.
MISSING: Any = _Missing()


def scope_in(storage: RequestStorage, client: MemcacheClient) -> RequestScope | None:
    """``client``'s scope in the request of ``storage``, made on first use and closed with the
    request; None if the request has ended."""
    values = storage.values
    if values is None:
        return None
    scope: RequestScope | None = values.get(client)
    if scope is None:
        made = RequestScope(client, storage)
        # Threads of one request (a threadpool endpoint and the event loop) may both get here.
        scope = values.setdefault(client, made)
        if scope is made:
            storage.on_close(made.close)
    return scope


def scope_for_call(client: MemcacheClient) -> tuple[RequestScope, bool]:
    """``client``'s scope in the current request, and whether that request is new: outside any
    request (``request_roots.current_storage()`` is None, or its request has ended), a
    top-level call is a request of its own, which the caller ends with its future
    (``scope.storage.close_with(future)``)."""
    storage = current_storage()
    if storage is not None:
        scope = scope_in(storage, client)
        if scope is not None:
            return scope, False
    scope = scope_in(RequestStorage(), client)
    assert scope is not None  # a new storage is open
    return scope, True


def current_scope(client: MemcacheClient) -> RequestScope | None:
    """``client``'s scope in the current request, if the running code belongs to one (no
    request is made): the scope a synchronous write updates."""
    storage = current_storage()
    return None if storage is None else scope_in(storage, client)


def scope_for_new_roots(client: MemcacheClient) -> RequestScope | None:
    """The open scope of ``client`` in the request that new root tasks start in (the web
    middleware's, through ``contexts_for_new_roots``), or None."""
    storage = storage_for_new_roots()
    return None if storage is None else scope_in(storage, client)


class RequestScope:
    """The request-local cache of one client in one request's ``storage`` (see the module
    docstring)."""

    __slots__ = (
        "client",
        "storage",
        "values",
        "inflight",
        "prime_keys",
        "closed",
        "stale",
        "leases",
        "writes",
    )

    def __init__(self, client: MemcacheClient, storage: RequestStorage | None = None) -> None:
        self.client = client
        #: The request this scope belongs to; tasks that compute its values run inside it.
        self.storage = RequestStorage() if storage is None else storage
        self.values: dict[str, Any] = {}
        self.inflight: dict[str, FutureBase[Any]] = {}
        #: Keys primed and not fetched yet, each with its cached function (None: a raw key).
        self.prime_keys: dict[str, CachedFunction[Any] | None] = {}
        self.closed = False
        #: Keys whose value this request got stale (stale-while-revalidate functions, after a
        #: dirty(), while another caller recomputes them).
        self.stale: set[str] = set()
        #: Primed keys of cached functions: their multi-get asks for a lease, and then holds
        #: the lease got (the cas of the placeholder, or 0 if another caller holds it).
        self.leases: dict[str, int] | None = None
        #: Write-backs queued for this request and not sent yet (see ``MemcacheClient``).
        self.writes: list[Any] | None = None

    def close(self, flush: bool = True) -> None:
        """Forget everything cached and send the client's pending write-backs, returning once
        memcached has applied them, so that whatever starts after the request ends sees them
        (``flush=False``: leave them queued; the caller sends them, e.g. from another
        thread). The request's storage calls this when the request ends."""
        if self.closed:
            return
        self.closed = True
        self.values.clear()
        self.prime_keys.clear()
        leases, self.leases = self.leases, None
        if leases:
            # Leases won by priming for keys nobody then read: give them back, so that other
            # callers do not wait for values this request will never compute.
            for key, cas in leases.items():
                if cas > 0:
                    self.client.write_backs.release_lease(key, cas)
        if flush:
            self.client.write_backs.send(confirm=True, scope=self)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.values)} value(s)"
        return f"<RequestScope of {self.client!r}: {state}, {len(self.inflight)} in flight>"


class RequestBlock:
    """``with mc.request():``: a new request for the block (and the tasks created in it), in
    which the client's scope is fresh; entering returns that scope."""

    def __init__(self, client: MemcacheClient) -> None:
        self.client = client
        self.storage: RequestStorage | None = None

    def __enter__(self) -> RequestScope:
        if self.storage is not None:
            raise RuntimeError(
                "this request() block is already in use; write `with mc.request():` each time "
                "instead of reusing one object"
            )
        storage = self.storage = RequestStorage()
        storage.__enter__()
        scope = scope_in(storage, self.client)
        assert scope is not None  # a storage just entered is open
        return scope

    def __exit__(
        self,
        typ: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.storage is not None
        self.storage.__exit__(typ, val, tb)

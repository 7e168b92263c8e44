"""Request scopes: within one request, each memcached key is fetched at most once.

A scope holds the request-local cache of one client: the values read or computed so far
(``values``, a miss recorded as ``MISSING``) and the futures of keys being fetched or computed
(``inflight``), so that a second read of a key joins the first instead of asking again.

Which scope is current, for a client on a thread:

1. the innermost ``with mc.request():`` block (it follows its task across switches, like any
   ``AsyncContext``), or the per-thread scope legacy priming opened (see ``asynq.priming``);
2. otherwise, inside a running task, an implicit scope for the top-level task (the task at the
   end of the chain of creators), current on the thread until that task is done;
3. otherwise, at top level, the scope that ``contexts_for_new_roots(scope.activation)`` (the web
   middleware, ``asynq.web``) made the current HTTP request's, if it is open;
4. otherwise (a top-level call), a scope of its own that closes when the call's future is done.

Closing a scope sends the client's pending write-backs (queued by any thread) and waits until
memcached has applied them.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..contexts import AsyncContext, enter_context, get_root_contexts, leave_context
from ..futures import FutureBase

if TYPE_CHECKING:
    from .cached import CachedFunction
    from .client import MemcacheClient

__all__ = ["MISSING", "RequestScope", "RequestBlock", "scope_for_new_roots"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: What the request-local cache holds for a key that memcached did not have.
MISSING: Any = _Missing()


def scope_for_new_roots(client: MemcacheClient) -> RequestScope | None:
    """The open scope of ``client`` that new root tasks start in (``contexts_for_new_roots``)."""
    for context in get_root_contexts():
        if type(context) is _Activation and context.scope.client is client:
            scope = context.scope
            return None if scope.closed else scope
    return None


class RequestScope:
    """The request-local cache of one client (see the module docstring)."""

    __slots__ = (
        "client",
        "values",
        "inflight",
        "prime_keys",
        "closed",
        "root",
        "implicit",
        "activation",
        "stale",
        "leases",
        "writes",
    )

    def __init__(self, client: MemcacheClient) -> None:
        self.client = client
        self.values: dict[str, Any] = {}
        self.inflight: dict[str, FutureBase[Any]] = {}
        #: Keys primed and not fetched yet, each with its cached function (None: a raw key).
        self.prime_keys: dict[str, CachedFunction[Any] | None] = {}
        self.closed = False
        self.root: FutureBase[Any] | None = None
        self.implicit = False  # current on the thread until ``root`` is done
        self.activation = _Activation(self)
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
        thread)."""
        if self.closed:
            return
        self.closed = True
        self.values.clear()
        self.prime_keys.clear()
        local = self.client.thread_state()
        if self.implicit and local.scope is self:
            local.scope = None
        self.root = None
        leases, self.leases = self.leases, None
        if leases:
            # Leases won by priming for keys nobody then read: give them back, so that other
            # callers do not wait for values this request will never compute.
            for key, cas in leases.items():
                if cas > 0:
                    self.client.release_lease(key, cas)
        if flush:
            self.client.send_write_backs(confirm=True, scope=self)

    def close_with(self, future: FutureBase[Any]) -> None:
        """Make ``future`` the root of this scope: the scope closes when it is computed (the
        scope of a top-level call of its own)."""
        self.root = future
        future.on_computed.subscribe(self._on_root_done)

    def _on_root_done(self, _future: FutureBase[Any]) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.values)} value(s)"
        return f"<RequestScope of {self.client!r}: {state}, {len(self.inflight)} in flight>"


class _Activation(AsyncContext):
    """Makes a scope the client's current one while a task that carries it runs."""

    def __init__(self, scope: RequestScope) -> None:
        self.scope = scope
        self._saved: list[RequestScope | None] = []

    def resume(self) -> None:
        """Make the scope current (the task is switched in)."""
        local = self.scope.client.thread_state()
        self._saved.append(local.scope)
        local.scope = self.scope

    def pause(self) -> None:
        """Restore the scope that was current before (the task is switched out)."""
        self.scope.client.thread_state().scope = self._saved.pop()


class RequestBlock(AsyncContext):
    """``with mc.request():``: a fresh scope for the block (and tasks created in it)."""

    def __init__(self, client: MemcacheClient) -> None:
        self.client = client
        self.scope: RequestScope | None = None
        self._saved: list[RequestScope | None] = []

    def __enter__(self) -> RequestScope:  # type: ignore[override]
        if self.scope is not None:
            raise RuntimeError(
                "this request() block is already in use; write `with mc.request():` each time "
                "instead of reusing one object"
            )
        self.scope = RequestScope(self.client)
        enter_context(self)
        return self.scope

    def __exit__(
        self,
        typ: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        leave_context(self)
        assert self.scope is not None
        self.scope.close()

    def resume(self) -> None:
        """Make the block's scope current (on enter, and when its task is switched in)."""
        local = self.client.thread_state()
        self._saved.append(local.scope)
        local.scope = self.scope

    def pause(self) -> None:
        """Restore the previous scope (on exit, and when its task is switched out)."""
        self.client.thread_state().scope = self._saved.pop()

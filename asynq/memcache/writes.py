"""Write-backs: the values computed on a miss, queued per request and sent without a round trip.

A cached function whose body ran on a miss writes its value back to memcached. It does not wait
for that: the write-back is queued for the request it was computed in (its ``RequestScope``),
whatever thread queued it (under the asyncio driver the tasks that queue them run on the loop
thread while rounds are sent from the flush thread, and a threadpool endpoint's thread may never
read again). Then:

- before a round's gets, the write-backs of the requests that round reads for, to the servers
  the gets go to, are sent first (quietly), so that the round's reply confirms them
  (``before_round``);
- when the request ends, the rest are sent and the client waits until memcached has applied
  them (``send(confirm=True, scope=...)``): whatever starts after the request, on any
  connection, thread or process, reads them;
- write-backs of requests already over (a computation that ended after its request) go to a
  backlog, sent by whoever sends next.

With leases (memcached's meta commands) a write-back is stored only under the lease its read
got, so a value computed before a ``dirty()`` never lands after it; a computation that fails
gives its lease back (``release_lease``).

``WriteBacks`` is the queue of one client, ``mc.write_backs``: the memcache modules (cached
functions, batches, request scopes), priming and the web middleware use it; model code does
not need it (``mc.flush_writes()`` sends the current request's write-backs now).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..request_roots import current_storage
from .batch import thread_batches
from .protocol import WriteOp
from .serde import FLAG_CACHED, JsonSerializer, PickleSerializer, Serializer

if TYPE_CHECKING:
    from .client import MemcacheClient
    from .request import RequestScope

__all__ = ["WriteBacks", "encode_value"]

_log = logging.getLogger("asynq.memcache")
# Serializers that return str, int and bytes values unchanged.
_PLAIN_SERDES = (JsonSerializer, PickleSerializer)


def encode_value(serializer: Serializer, key: str, value: Any) -> tuple[bytes, int, Any]:
    """``value`` serialized for ``key``: ``(data, flags, stored)``, where ``stored`` is the value
    as a read of ``data`` returns it (JSON turns tuples into lists), so that a cold call and a
    warm call return equal values of the same types."""
    data, flags = serializer.serialize(key, value)
    if not isinstance(data, bytes):
        raise TypeError(
            f"{serializer!r}.serialize returned {type(data).__name__}, expected (bytes, flags)"
        )
    cls = type(value)
    if (cls is str or cls is int or cls is bytes) and type(serializer) in _PLAIN_SERDES:
        return data, flags, value
    return data, flags, serializer.deserialize(key, data, flags)


class WriteBacks:
    """The write-back queue of one client (see the module docstring)."""

    def __init__(self, client: MemcacheClient) -> None:
        self.client = client
        # ``_writing``: the scopes that have write-backs queued (in ``scope.writes``);
        # ``_backlog``: write-backs of scopes already closed, sent by anyone.
        self._backlog: list[WriteOp] = []
        self._writing: set[RequestScope] = set()
        self._lock = threading.Lock()

    def pending(self) -> bool:
        """Whether write-backs are queued (of any request, or of requests already over)."""
        return bool(self._backlog or self._writing)

    def queue(
        self,
        key: str,
        value: Any,
        ttl: int,
        lease: int | None = None,
        scope: RequestScope | None = None,
    ) -> Any:
        """Queue a write-back of ``value`` for ``scope`` (it goes out with the scope's next
        round, or when the scope ends); return the value as a read of it will return it.

        With leases the write-back needs the lease: the cas of the placeholder the read got,
        or of another client's value the read found under a cached function's key (the
        write-back replaces it). Memcached stores it only if nobody deleted or changed the key
        since, so a value computed before a ``dirty`` never lands after it. Without one,
        nothing is written."""
        client = self.client
        data, flags, value = encode_value(client.serializer, key, value)
        if not flags:
            flags = FLAG_CACHED
        if len(data) > client.max_value_size:
            _log.warning(
                "asynq.memcache: not writing %s back: its value is %d bytes, more than "
                "max_value_size=%d (memcached's item size limit is 1 MB by default)",
                key,
                len(data),
                client.max_value_size,
            )
            return value
        if not client.leases:
            self._queue(("set", key, data, flags, ttl, True, 0), scope)
        elif lease is not None and lease > 0:
            self._queue(("lease-set", key, data, flags, ttl, True, lease), scope)
        return value

    def release_lease(self, key: str, lease: int, scope: RequestScope | None = None) -> None:
        """Give a lease back (its body failed), so that the next reader computes at once."""
        self._queue(("release", key, b"", 0, 0, True, lease), scope)

    def _queue(self, op: WriteOp, scope: RequestScope | None) -> None:
        with self._lock:
            if scope is None or scope.closed:
                self._backlog.append(op)
                return
            writes = scope.writes
            if writes is None:
                scope.writes = [op]
                self._writing.add(scope)
            else:
                writes.append(op)

    def _take(self, scopes: Iterable[RequestScope] | None) -> list[WriteOp]:
        """The write-backs of ``scopes`` (None: of every scope) and those of closed scopes,
        removed from the queues."""
        with self._lock:
            ops, self._backlog = self._backlog, []
            writing = self._writing
            for scope in list(writing) if scopes is None else scopes:
                if scope.writes is not None:
                    ops.extend(scope.writes)
                    scope.writes = None
                    writing.discard(scope)
        return ops

    def _flush_thread_writes(self) -> None:
        """This thread's pending ``yield mc.set.asynq(...)`` writes go first."""
        batch = thread_batches(self.client).writes
        if batch is not None:
            batch.flush_if_pending()

    def send(
        self,
        confirm: bool = False,
        scope: RequestScope | None = None,
        everything: bool = False,
        current: bool = True,
    ) -> None:
        """Send this thread's pending writes and the write-backs of ``scope`` (by default the
        client's scope in the current request, unless not ``current``; ``everything``: of
        every request) and of closed scopes, quietly.
        With ``confirm``, then wait until memcached has applied the write-backs this thread
        sent: a call or request that ends must leave nothing in flight, since the next one may
        read on another connection (another thread, the asyncio flush thread, another process)
        that memcached serves first."""
        self._flush_thread_writes()
        if self._backlog or self._writing:
            scopes: Iterable[RequestScope] | None = None
            if not everything:
                if scope is None and current:
                    storage = current_storage()
                    scope = None if storage is None else storage.get(self.client)
                scopes = () if scope is None else (scope,)
            ops = self._take(scopes)
            if ops:
                self.client.pool.send(ops)
        pool = self.client.pool
        if confirm and pool.has_unconfirmed():
            pool.confirm_quiet()

    def before_round(self, items: list[Any], keys: list[str]) -> None:
        """Before a round's gets (of ``keys``, read by ``items``): this thread's pending
        writes, and the write-backs of the scopes the round reads for that go to the servers
        the gets go to, so that the round's reply confirms them (the others wait for a later
        round or the end of their request)."""
        self._flush_thread_writes()
        if not (self._backlog or self._writing):
            return
        writing = self._writing
        read_for = {item.scope for item in items} if writing else set()
        pool = self.client.pool
        servers = {pool.index_for(key) for key in keys} if pool.ring is not None else None
        with self._lock:
            ops, self._backlog = self._backlog, []
            scopes = read_for & writing
            for scope in scopes:
                writes = scope.writes
                if writes is None:
                    continue
                if servers is None:
                    ops.extend(writes)
                    keep = None
                else:
                    index_for = pool.index_for
                    ops.extend([op for op in writes if index_for(op[1]) in servers])
                    keep = [op for op in writes if index_for(op[1]) not in servers] or None
                scope.writes = keep
                if keep is None:
                    writing.discard(scope)
        # Quiet or noreply: nobody reads their answers now.
        if ops:
            pool.send(ops)

    def __repr__(self) -> str:
        return (
            f"<WriteBacks of {self.client!r}: {len(self._writing)} request(s) with write-backs, "
            f"{len(self._backlog)} in the backlog>"
        )

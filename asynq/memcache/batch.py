"""The memcache batches: pending reads become one multi-get per round, writes one set_many.

``ReadBatch`` holds the reads of one client on one thread. When the scheduler flushes a round it
first calls ``_start_flush`` on every batch: a read batch sends the pending write-backs of the
request scopes it reads for (whatever thread queued them) and then ``get k1 k2 ...`` to every
server involved, without reading anything. Only then does ``_flush`` read
the replies, so a round costs one round trip however many servers (and clients) take part.

Items:

- ``GetItem``: a raw ``mc.get`` of one key; its value is the stored value or ``MISSING``.
- ``CachedItem``: a call of a cached function. A hit sets its value at once. A miss starts a task
  that runs the function's body (itself batched if it yields) and then sets the value and queues
  the write-back; meanwhile the item waits on the ``COMPUTING`` pseudo-batch, which the
  scheduler never flushes.
- ``WriteItem``: one set or delete, sent by ``WriteBatch`` as one request per server, in
  ``_start_flush`` (before any get of the round is sent): write-backs with noreply, writes the
  user asked for waiting for the answers.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from ..async_task import AsyncTask
from ..batching import BatchBase, BatchItemBase
from ..futures import FutureBase
from ..lowlevel import AWAITING_TASK, pending_items, resolve_item, set_from_task, state_str
from ..scheduler import TaskScheduler, get_scheduler
from .pool import RoundTrip
from .protocol import STALE, WIN, WriteOp
from .request import MISSING, RequestScope

_monotonic = time.monotonic
_log = logging.getLogger("asynq.memcache")

if TYPE_CHECKING:
    from collections.abc import Generator

    from .cached import CachedFunction
    from .client import MemcacheClient
    from .pool import GetPlan

__all__ = [
    "RoundTrip",
    "ReadBatch",
    "WriteBatch",
    "GetItem",
    "CachedItem",
    "WriteItem",
    "COMPUTING",
    "ThreadBatches",
    "primed_read",
    "read_batch",
    "thread_batches",
    "write_batch",
]


_NO_TASK = object()


class ThreadBatches:
    """A client's active batches on one thread: the reads (``batch``) and the writes
    (``writes``) of the current round; and, for cached functions' hot path, the scope the
    last read of a running task went through (``memo_scope``, valid while the running task is
    ``memo_task`` or a sibling of it, created by ``memo_creator``, and while
    ``request_roots.generation`` is ``memo_generation``)."""

    __slots__ = ("batch", "writes", "memo_task", "memo_creator", "memo_scope", "memo_generation")

    def __init__(self) -> None:
        self.batch: ReadBatch | None = None
        self.writes: WriteBatch | None = None
        self.memo_task: Any = _NO_TASK  # never None, which is what reads outside tasks see
        self.memo_creator: Any = _NO_TASK
        self.memo_scope: RequestScope | None = None
        self.memo_generation: int | None = None


def thread_batches(client: MemcacheClient) -> ThreadBatches:
    """``client``'s active batches on this thread (kept in ``client.threads``, a plain
    ``threading.local``), created on first use."""
    threads = client.threads
    try:
        state: ThreadBatches = threads.state
    except AttributeError:
        state = threads.state = ThreadBatches()
    return state


def read_batch(client: MemcacheClient) -> ReadBatch:
    """``client``'s active read batch on this thread (the reads of the current round)."""
    state = thread_batches(client)
    batch = state.batch
    if batch is None:
        batch = state.batch = ReadBatch(client)
    return batch


def write_batch(client: MemcacheClient) -> WriteBatch:
    """``client``'s active write batch on this thread (``yield mc.set.asynq(...)``)."""
    state = thread_batches(client)
    batch = state.writes
    if batch is None:
        batch = state.writes = WriteBatch(client)
    return batch


class ReadBatch(BatchBase["GetItem | CachedItem"]):
    """The pending reads of one client on one thread."""

    def __init__(self, client: MemcacheClient) -> None:
        super().__init__()
        self.client = client
        self.scheduler: TaskScheduler = get_scheduler()
        self._plan: GetPlan | None = None

    def _try_switch_active_batch(self) -> None:
        local = thread_batches(self.client)
        if local.batch is self:
            local.batch = ReadBatch(self.client)

    def _start_flush(self) -> None:
        client = self.client
        if not client.leases:
            keys = list(dict.fromkeys([item.key for item in pending_items(self)]))
            client.write_backs.before_round(self.items, keys)
            if keys:
                self._plan = client.pool.send_gets(keys)
            return
        items = pending_items(self)
        if not items:
            client.write_backs.before_round(items, [])
            return
        keys = list(dict.fromkeys([item.key for item in items]))
        # The write-backs of the requests this round reads for go first: its reply confirms
        # them, whatever thread queued them and whatever thread sends the round.
        client.write_backs.before_round(items, keys)
        _wait_for_retries(items)
        # The keys that ask for no lease: raw gets, except keys of cached functions primed in
        # their scope (all the others are cached calls).
        raw = {
            item.key
            for item in items
            if type(item) is not CachedItem
            and not (item.scope.leases and item.key in item.scope.leases)
        }
        self._plan = client.pool.send_gets(keys, raw)

    def _flush(self) -> None:
        plan, self._plan = self._plan, None
        if plan is not None:
            found, foreign, leases = self.client.pool.read_gets(plan)
        else:
            found, foreign, leases = {}, {}, {}
        computing = False
        get = found.get
        resolve = resolve_item
        for item in pending_items(self):
            key = item.key
            value = get(key, MISSING)
            if type(item) is CachedItem:
                if leases and key in leases:
                    if foreign and key in foreign:
                        # Another client's value, marked stale: never served as the stale value.
                        _not_its_value(item.cached, key, value, foreign)
                        value = MISSING
                    _lease_outcome(item, value, *leases[key], self.scheduler)
                    computing = computing or item.batch is not self
                    continue
                if value is MISSING or (foreign and key in foreign):
                    if foreign and key in foreign:
                        item.lease = _not_its_value(item.cached, key, value, foreign)
                    computing = True
                    item.start_compute(self.scheduler)
                    continue
            elif foreign and key in foreign and type(item) is PrimedItem:
                # A primed key of a cached function: judged as the function's own read would
                # be, and computed by the plain call that reads it, which replaces the value.
                cas = _not_its_value(item.cached, key, value, foreign)
                value = MISSING
                if leases and key in leases:  # marked stale: replaced under the lease, if won
                    state, lease = leases[key]
                    cas = lease if state & WIN else 0
                scope_leases = item.scope.leases
                if scope_leases is not None and key in scope_leases:
                    scope_leases[key] = cas
            elif leases and key in leases:
                state, cas = leases[key]
                if state & STALE:
                    value = MISSING  # a raw get never returns what a dirty() invalidated
                scope_leases = item.scope.leases
                if scope_leases is not None and key in scope_leases:
                    # A primed key: the cached call that computes it takes over the lease.
                    scope_leases[key] = cas if state & WIN else 0
            # A hit (or a raw get's miss), inlined: this loop runs once per key of the round.
            scope = item.scope
            scope.values[key] = value
            inflight = scope.inflight
            if inflight.get(key) is item:
                del inflight[key]
            resolve(item, value)
        if computing:
            # Items whose value a compute task will set are no longer this batch's business.
            self.items = [item for item in self.items if item.batch is self]

    def _cancel(self) -> None:
        for item in self.items:
            scope = item.scope
            if scope.inflight.get(item.key) is item:
                del scope.inflight[item.key]

    def _describe(self) -> str:
        return f"{super()._describe()} for {self.client!r}"


#: Where an item waits while its cached function's body computes it (the kernel's pseudo-batch
#: of items whose value a task sets; see ``asynq.lowlevel.set_from_task``).
COMPUTING = AWAITING_TASK


class GetItem(BatchItemBase):
    """A read of one key for a raw ``get``; the value is what memcached had, or ``MISSING``."""

    __slots__ = ("key", "scope")

    def __init__(self, batch: ReadBatch, key: str, scope: RequestScope) -> None:
        BatchItemBase.__init__(self, batch)
        self.key = key
        self.scope = scope

    def __repr__(self) -> str:
        return f"<GetItem {self.key!r} {state_str(self)}>"


def primed_read(scope: RequestScope, key: str, cached: CachedFunction[Any] | None) -> GetItem:
    """A priming fetch of the full key ``key`` for ``scope``, in this thread's read batch of
    the scope's client: a raw read (``cached`` None), or a read of ``cached``'s key, which
    accepts only the function's own values, as the function's reads do."""
    batch = read_batch(scope.client)
    if cached is None:
        return GetItem(batch, key, scope)
    return PrimedItem(batch, key, scope, cached)


class PrimedItem(GetItem):
    """A priming fetch of a cached function's key (``f.prime(x)``): a raw read, except that a
    value the function did not write is a miss, as for the function's own reads."""

    __slots__ = ("cached",)

    def __init__(
        self, batch: ReadBatch, key: str, scope: RequestScope, cached: CachedFunction[Any]
    ) -> None:
        super().__init__(batch, key, scope)
        self.cached = cached


class CachedItem(BatchItemBase):
    """One call of a cached function: a hit, or a miss whose body runs in a compute task.

    With leases, ``lease`` is the cas of the placeholder this call won, or of another
    client's value its read found (its write-back is stored only while that holds), and
    ``retry`` is (when waiting began, not before, attempt) for a read that waits for another
    caller's computation."""

    __slots__ = ("key", "scope", "cached", "args", "kwargs", "contexts", "lease", "retry")

    def __init__(
        self,
        batch: BatchBase[Any],
        key: str,
        scope: RequestScope,
        cached: CachedFunction[Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        contexts: tuple[Any, ...],
    ) -> None:
        # cached.py's ``asynq`` (the hot path) builds items the same way, inline: keep in step.
        if batch is not COMPUTING:
            BatchItemBase.__init__(self, batch)
        else:
            FutureBase.__init__(self)
            self.batch = batch
            self.index = -1
        self.key = key
        self.scope = scope
        self.cached = cached
        self.args = args
        self.kwargs = kwargs
        self.contexts = contexts
        self.lease: int | None = None
        self.retry: tuple[float, float, int] | None = None

    def start_compute(self, scheduler: TaskScheduler) -> None:
        """Run the function's body in a new task that sets this item when done."""
        task: AsyncTask[None] = AsyncTask(_compute(self), self.cached.fn, self.args, self.kwargs)
        set_from_task(self, task, self.contexts + (self.scope.storage,), scheduler)

    def __repr__(self) -> str:
        return f"<CachedItem {self.key!r} {state_str(self)}>"


def _compute(item: CachedItem) -> Generator[Any, Any, None]:
    """The body of a compute task: run the function, store, write back, set the item."""
    cached = item.cached
    scope = item.scope
    leases = scope.leases
    if leases and item.lease is not None and leases.get(item.key) == item.lease:
        # A priming read of the key in the same round got the same lease: it is this call's
        # now, not one to give back when the request ends (before the write-back lands).
        del leases[item.key]
    try:
        if cached.body_is_async:
            body: Any = cached.fn
            value = yield body.asynq(*item.args, **item.kwargs)
        else:
            value = cached.fn(*item.args, **item.kwargs)
        value = cached.store_computed(scope, item.key, value, item.lease)
    except Exception as error:  # noqa: BLE001 - the caller receives it at its yield
        if scope.inflight.get(item.key) is item:
            del scope.inflight[item.key]
        if item.lease is not None and item.lease > 0:
            cached.client.write_backs.release_lease(item.key, item.lease, scope)
        item.set_error(error)
        return
    if scope.inflight.get(item.key) is item:
        del scope.inflight[item.key]
    item.set_value(value)


def _not_its_value(
    cached: CachedFunction[Any], key: str, value: Any, foreign: dict[str, int]
) -> int:
    """The read of ``cached``'s ``key`` found a value the function did not write (another
    client's plain bytes, or a value that cannot be decoded): it is a miss. Log it (at most
    once per interval per function; an undecodable value was logged when read) and return
    the cas under which the recomputed value replaces it: the write-back is stored only if
    nobody changed or deleted the key since this read (a ``dirty`` meanwhile wins)."""
    if value is not MISSING:
        cached.note_foreign(key)
    return foreign[key]


def _wait_for_retries(items: list[Any]) -> None:
    """If every read of the batch waits for another caller's computation, sleep until the
    first may look again (the scheduler flushes only when nothing else can run)."""
    first = None
    for item in items:
        retry = item.retry if type(item) is CachedItem else None
        if retry is None:
            return
        if first is None or retry[1] < first:
            first = retry[1]
    if first is not None:
        delay = first - _monotonic()
        if delay > 0:
            time.sleep(delay)


def _lease_outcome(
    item: CachedItem, value: Any, state: int, cas: int, scheduler: TaskScheduler
) -> None:
    """A cached call's read found a lease state: compute (won), serve stale, or wait (the
    batch may flush on another thread: its tasks go to ``scheduler``, the batch's)."""
    cached = item.cached
    client = cached.client
    scope = item.scope
    key = item.key
    if state & WIN:
        item.lease = cas
        item.start_compute(scheduler)
        return
    if state & STALE and cached.stale_while_revalidate and value is not MISSING:
        # Another caller recomputes; this one gets the value dirty() invalidated, marked stale.
        scope.values[key] = value
        scope.stale.add(key)
        if scope.inflight.get(key) is item:
            del scope.inflight[key]
        item.set_value(value)
        return
    now = _monotonic()
    since, _, attempt = item.retry if item.retry is not None else (now, now, -1)
    if now - since >= client.lease_wait:
        # The holder is too slow (or gone): compute, and write nothing (the lease is not ours).
        _note_lease_timeout(client, key, now - since)
        item.start_compute(scheduler)
        return
    task: AsyncTask[None] = AsyncTask(
        _await_lease(item, since, attempt + 1), cached.fn, item.args, item.kwargs
    )
    set_from_task(item, task, item.contexts + (scope.storage,), scheduler)


# When each client last logged a lease timeout (weakly: the entry goes with its client).
_lease_logged: weakref.WeakKeyDictionary[MemcacheClient, float] = weakref.WeakKeyDictionary()


def _note_lease_timeout(client: MemcacheClient, key: str, waited: float) -> None:
    """A read waited ``lease_wait`` for another caller's computation: count it, and log it at
    most once per ``log_interval``."""
    client.stats.lease_timeouts += 1
    now = _monotonic()
    if now - _lease_logged.get(client, -1e18) >= client.log_interval:
        _lease_logged[client] = now
        _log.warning(
            "asynq.memcache: waited %.2f s for another caller to compute %s (lease_wait=%.2f)"
            "; computing it here without writing it back (logged at most once per %.0f s)",
            waited,
            key,
            client.lease_wait,
            client.log_interval,
        )


def _await_lease(item: CachedItem, since: float, attempt: int) -> Generator[Any, Any, None]:
    """Read the key again a little later (2 ms, doubling up to 50 ms) and pass on the result."""
    cached = item.cached
    probe = CachedItem(
        read_batch(cached.client),
        item.key,
        item.scope,
        cached,
        item.args,
        item.kwargs,
        item.contexts,
    )
    probe.retry = (since, _monotonic() + min(0.05, 0.002 * 2**attempt), attempt)
    scope = item.scope
    try:
        value = yield probe
    except Exception as error:  # noqa: BLE001 - the caller receives it at its yield
        if scope.inflight.get(item.key) is item:
            del scope.inflight[item.key]
        item.set_error(error)
        return
    if scope.inflight.get(item.key) is item:
        del scope.inflight[item.key]
    item.set_value(value)


class WriteBatch(BatchBase["WriteItem"]):
    """The pending sets and deletes of one client on one thread (sent with noreply)."""

    def __init__(self, client: MemcacheClient) -> None:
        super().__init__()
        self.client = client
        self.started = False  # _start_flush has sent the writes

    def get_priority(self) -> tuple[int, int]:
        """Writes go out before the reads of the same round."""
        return (1, 0)

    def _try_switch_active_batch(self) -> None:
        local = thread_batches(self.client)
        if local.writes is self:
            local.writes = WriteBatch(self.client)

    def _start_flush(self) -> None:
        # All of it now, before any read batch of the round sends its gets: a write that waits
        # for its answer must not find a get's reply on the socket.
        self.started = True
        items = pending_items(self)
        if items:
            ops: list[WriteOp] = [
                (i.op, i.key, i.data, i.flags, i.ttl, i.noreply, i.cas) for i in items
            ]
            for item, ok in zip(items, self.client.pool.send(ops), strict=True):
                if not item.is_computed():
                    item.set_value(ok)

    def flush_if_pending(self) -> None:
        """Flush now if writes are queued and the batch has not started flushing."""
        if self.items and not self.started:
            self.flush()

    def _flush(self) -> None:
        for item in self.items:
            if not item.is_computed():
                item.set_value(True)


class WriteItem(BatchItemBase):
    """One write: ``op`` is ``"set"`` (with ``data``, ``flags``, ``ttl``) or ``"delete"``.

    Write-backs are sent with ``noreply`` (nobody waits for them); writes the user asked for
    wait for memcached's answer, so that other connections see them once they are done."""

    __slots__ = ("noreply", "op", "key", "data", "flags", "ttl", "cas")

    def __init__(
        self,
        batch: WriteBatch,
        op: str,
        key: str,
        data: bytes = b"",
        flags: int = 0,
        ttl: int = 0,
        noreply: bool = False,
        cas: int = 0,
    ) -> None:
        super().__init__(batch)
        self.noreply = noreply
        self.cas = cas
        self.op = op
        self.key = key
        self.data = data
        self.flags = flags
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"<WriteItem {self.op} {self.key!r} {state_str(self)}>"

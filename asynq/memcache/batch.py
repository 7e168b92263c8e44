"""The memcache batches: pending reads become one multi-get per round, writes one set_many.

``ReadBatch`` holds the reads of one client on one thread. When the scheduler flushes a round it
first calls ``_start_flush`` on every batch: a read batch sends its pending write-backs and then
``get k1 k2 ...`` to every server involved, without reading anything. Only then does ``_flush`` read
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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..async_task import AsyncTask
from ..batching import BatchBase, BatchItemBase
from ..scheduler import TaskScheduler, get_scheduler
from .request import MISSING, RequestScope

if TYPE_CHECKING:
    from collections.abc import Generator

    from .cached import CachedFunction
    from .client import MemcacheClient, _Plan

__all__ = [
    "RoundTrip",
    "ReadBatch",
    "WriteBatch",
    "GetItem",
    "CachedItem",
    "WriteItem",
    "COMPUTING",
]


@dataclass
class RoundTrip:
    """One multi-get as seen by ``MemcacheClient.on_round_trip`` subscribers."""

    #: The full memcached keys requested, in request order, without duplicates.
    keys: list[str]
    #: How many of them were found (and decoded).
    hits: int
    #: Wall time from sending the first request to reading the last reply.
    seconds: float
    #: How many servers the keys were sent to.
    servers: int


class ReadBatch(BatchBase["BatchItemBase"]):
    """The pending reads of one client on one thread."""

    def __init__(self, client: MemcacheClient) -> None:
        super().__init__()
        self.client = client
        self.scheduler: TaskScheduler = get_scheduler()
        self._plan: _Plan | None = None

    def _try_switch_active_batch(self) -> None:
        local = self.client._local
        if local.batch is self:
            local.batch = ReadBatch(self.client)

    def _start_flush(self) -> None:
        client = self.client
        client._flush_writes()
        keys = list(dict.fromkeys([item.key for item in self.items if not item._computed]))  # type: ignore[attr-defined]
        if keys:
            self._plan = client._send_gets(keys)

    def _flush(self) -> None:
        plan, self._plan = self._plan, None
        found, foreign = self.client._read_gets(plan) if plan is not None else ({}, set())
        computing = False
        get = found.get
        for item in self.items:
            if item._computed:
                continue
            key = item.key  # type: ignore[attr-defined]
            value = get(key, MISSING)
            if type(item) is CachedItem and (value is MISSING or (foreign and key in foreign)):
                if value is not MISSING:
                    self.client._foreign(key, item.cached)
                computing = True
                item.batch = COMPUTING
                item.start_compute(self.scheduler)
                continue
            # A hit (or a raw get's miss), inlined: this loop runs once per key of the round.
            scope = item.scope  # type: ignore[attr-defined]
            scope.values[key] = value
            inflight = scope.inflight
            if inflight.get(key) is item:
                del inflight[key]
            item._value = value
            item._computed = True
            if item._waiters is not None or item._on_computed is not None:
                item._notify()
        if computing:
            # Items whose value a compute task will set are no longer this batch's business.
            self.items = [item for item in self.items if item.batch is self]

    def _cancel(self) -> None:
        for item in self.items:
            scope = item.scope  # type: ignore[attr-defined]
            if scope.inflight.get(item.key) is item:  # type: ignore[attr-defined]
                del scope.inflight[item.key]

    def _describe(self) -> str:
        return f"{super()._describe()} for {self.client!r}"


class _ComputingBatch(BatchBase["BatchItemBase"]):
    """Where an item waits while its value is being computed: never flushed, never scheduled."""

    def __init__(self) -> None:
        super().__init__()
        self._scheduled = True  # the scheduler skips batches it believes it already holds
        self._flush_begun = True

    def _try_switch_active_batch(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<COMPUTING: items whose cached function body is running>"


COMPUTING = _ComputingBatch()


class GetItem(BatchItemBase):
    """A read of one key for a raw ``get``; the value is what memcached had, or ``MISSING``."""

    __slots__ = ("key", "scope")

    def __init__(self, batch: ReadBatch, key: str, scope: RequestScope) -> None:
        self._value = None
        self._error = None
        self._computed = False
        self._waiters = None
        self._on_computed = None
        self.batch = batch
        items = batch.items
        self.index = len(items)
        items.append(self)
        self.key = key
        self.scope = scope

    def _hit(self, value: Any) -> None:
        scope = self.scope
        scope.values[self.key] = value
        if scope.inflight.get(self.key) is self:
            del scope.inflight[self.key]
        self.set_value(value)

    def _miss(self) -> bool:
        self._hit(MISSING)
        return False

    def __repr__(self) -> str:
        return f"<GetItem {self.key!r} {self._state_str()}>"


class CachedItem(BatchItemBase):
    """One call of a cached function: a hit, or a miss whose body runs in a compute task."""

    __slots__ = ("key", "scope", "cached", "args", "kwargs", "contexts")

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
        self._value = None
        self._error = None
        self._computed = False
        self._waiters = None
        self._on_computed = None
        self.batch = batch
        if batch is not COMPUTING:
            items = batch.items
            self.index = len(items)
            items.append(self)
        else:
            self.index = -1
        self.key = key
        self.scope = scope
        self.cached = cached
        self.args = args
        self.kwargs = kwargs
        self.contexts = contexts

    def _hit(self, value: Any) -> None:
        scope = self.scope
        scope.values[self.key] = value
        if scope.inflight.get(self.key) is self:
            del scope.inflight[self.key]
        self.set_value(value)

    def _miss(self) -> bool:
        scheduler = self.batch.scheduler if isinstance(self.batch, ReadBatch) else get_scheduler()
        self.batch = COMPUTING
        self.start_compute(scheduler)
        return True

    def start_compute(self, scheduler: TaskScheduler) -> None:
        """Run the function's body in a new task that sets this item when done."""
        task: AsyncTask[None] = AsyncTask(_compute(self), self.cached.fn, self.args, self.kwargs)
        task._contexts = self.contexts + (self.scope.activation,)
        task._queue = scheduler._ready
        scheduler.schedule(task)

    def __repr__(self) -> str:
        return f"<CachedItem {self.key!r} {self._state_str()}>"


def _compute(item: CachedItem) -> Generator[Any, Any, None]:
    """The body of a compute task: run the function, store, write back, set the item."""
    cached = item.cached
    scope = item.scope
    try:
        if cached._body_is_async:
            body: Any = cached.fn
            value = yield body.asynq(*item.args, **item.kwargs)
        else:
            value = cached.fn(*item.args, **item.kwargs)
        value = cached._store(scope, item.key, value)
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

    def get_priority(self) -> tuple[int, int]:
        """Writes go out before the reads of the same round."""
        return (1, 0)

    def _try_switch_active_batch(self) -> None:
        local = self.client._local
        if local.writes is self:
            local.writes = WriteBatch(self.client)

    def _start_flush(self) -> None:
        # All of it now, before any read batch of the round sends its gets: a write that waits
        # for its answer must not find a get's reply on the socket.
        self.client._send_writes([i for i in self.items if not i._computed])

    def _flush(self) -> None:
        for item in self.items:
            if not item._computed:
                item.set_value(True)


class WriteItem(BatchItemBase):
    """One write: ``op`` is ``"set"`` (with ``data``, ``flags``, ``ttl``) or ``"delete"``.

    Write-backs are sent with ``noreply`` (nobody waits for them); writes the user asked for
    wait for memcached's answer, so that other connections see them once they are done."""

    __slots__ = ("noreply", "op", "key", "data", "flags", "ttl")

    def __init__(
        self,
        batch: WriteBatch,
        op: str,
        key: str,
        data: bytes = b"",
        flags: int = 0,
        ttl: int = 0,
        noreply: bool = False,
    ) -> None:
        super().__init__(batch)
        self.noreply = noreply
        self.op = op
        self.key = key
        self.data = data
        self.flags = flags
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"<WriteItem {self.op} {self.key!r} {self._state_str()}>"

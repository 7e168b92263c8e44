"""Batching: many small requests become one.

A *batch item* is a future for one key; creating it adds it to the currently active *batch* of its
kind. The scheduler flushes a batch only when no task can make progress, so every item created in
the meantime lands in the same batch and costs one request.

To batch a backend, subclass both classes:

- ``BatchItemBase(batch)`` registers the item with ``batch`` (the currently active one).
- ``BatchBase._try_switch_active_batch()`` makes a fresh batch the active one if ``self`` still is,
  so that items created while ``self`` flushes go to the next batch.
- ``BatchBase._flush()`` performs the request and calls ``set_value`` / ``set_error`` on each item.
- ``BatchBase._start_flush()`` (optional) sends the request without waiting for the answer. The
  scheduler calls it on every batch of a round before it calls ``_flush`` on any, so independent
  batches overlap their latencies instead of adding them.
- ``BatchBase._cancel()`` (optional) undoes whatever an item registration did.

A ``_flush`` that raises fails every item it left unset with that error; an item it forgets gets a
``BatchingError``. Nothing else is affected: other batches of the round still flush.
"""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

from . import futures

__all__ = [
    "BatchingError",
    "BatchCancelledError",
    "BatchBase",
    "BatchItemBase",
    "DebugBatch",
    "DebugBatchItem",
    "sync",
]

_I = TypeVar("_I", bound="BatchItemBase")


class BatchingError(Exception):
    """A batch broke its contract (an item was left unset) or an item was misused."""


class BatchCancelledError(BatchingError):
    """The batch holding this item was cancelled before it flushed."""


class BatchBase(futures.FutureBase[None], Generic[_I]):
    """A group of batch items fetched by one request. Its own value (None) is set once flushed."""

    __slots__ = ("items", "_cancelled", "_scheduled", "_flush_begun", "__dict__")

    def __init__(self) -> None:
        super().__init__()
        self.items: list[_I] = []
        self._cancelled = False
        self._scheduled = False  # already in the scheduler's list of batches to flush
        self._flush_begun = False

    def is_flushed(self) -> bool:
        """Whether the batch has flushed (or been cancelled)."""
        return self._computed

    def is_cancelled(self) -> bool:
        """Whether ``cancel()`` was called before the batch flushed."""
        return self._cancelled

    def is_empty(self) -> bool:
        """Whether no item was added."""
        return not self.items

    def get_priority(self) -> tuple[int, int]:
        """Batches with a higher priority flush first within a round. Default ``(0, 0)``."""
        return (0, 0)

    def flush(self) -> None:
        """Run the batch now: switch the active batch, ``_flush``, fail what it left unset."""
        if self._computed:
            return
        self._begin_flush()
        if any(not item._computed for item in self.items):
            try:
                self._flush()
            except Exception as error:  # noqa: BLE001 - the items carry the batch's failure
                self._fail_unset(error)
            else:
                for item in self.items:
                    if not item._computed and item.batch is self:  # not handed to a task
                        item.set_error(
                            BatchingError(
                                f"{type(self).__name__}._flush() did not set a value for "
                                f"{item!r} (item {item.index} of {len(self.items)}); _flush must "
                                "call set_value or set_error on every item"
                            )
                        )
        if not self._computed:
            self.set_value(None)

    def _begin_flush(self) -> None:
        """Close the batch to new items and let it send its request (``_start_flush``)."""
        if self._flush_begun:
            return
        self._flush_begun = True
        self._try_switch_active_batch()
        try:
            self._start_flush()
        except Exception as error:  # noqa: BLE001 - the items carry the batch's failure
            self._fail_unset(error)

    def _fail_unset(self, error: BaseException) -> None:
        for item in self.items:
            if not item._computed and item.batch is self:  # not handed to a task
                item.set_error(error)

    def cancel(self, error: BaseException | None = None) -> None:
        """Drop the batch: its unset items fail with ``error`` (``BatchCancelledError`` if None)."""
        if self._computed:
            return
        self._cancelled = True
        if not self._flush_begun:
            self._flush_begun = True
            self._try_switch_active_batch()
        self._cancel()
        if error is None:
            error = BatchCancelledError(f"{type(self).__name__} was cancelled before it flushed")
        self._fail_unset(error)
        self.set_value(None)

    # -- to override ---------------------------------------------------------------------------

    def _try_switch_active_batch(self) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must define _try_switch_active_batch(): when this batch is the "
            "active one for its kind, replace it with a new empty batch"
        )

    def _start_flush(self) -> None:
        """Optionally send this batch's request before ``_flush`` reads the answer."""

    def _flush(self) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must define _flush(): fetch the items' keys and call "
            "set_value or set_error on each item"
        )

    def _cancel(self) -> None:
        """Optionally release what the items registered; called by ``cancel()``."""

    def _describe(self) -> str:
        state = "cancelled" if self._cancelled else ("flushed" if self._computed else "pending")
        return f"{state}, {len(self.items)} item(s)"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()}>"

    def dump(self, indent: int = 0) -> None:
        """Print the batch and its items."""
        print(" " * indent + repr(self))
        for item in self.items:
            print(" " * (indent + 2) + repr(item))


class BatchItemBase(futures.FutureBase[Any]):
    """One key of a batch; created against the batch that is active for its kind."""

    __slots__ = ("batch", "index", "__dict__")

    def __init__(self, batch: BatchBase[Any]) -> None:
        # FutureBase.__init__, inlined: items are created by the thousand.
        self._value = None
        self._error = None
        self._computed = False
        self._waiters = None
        self._on_computed = None
        if batch._flush_begun:
            raise BatchingError(
                f"cannot add {type(self).__name__} to {batch!r}, which has already flushed; "
                "its _try_switch_active_batch() should have made a new batch the active one"
            )
        self.batch = batch
        self.index = len(batch.items)
        batch.items.append(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.index} {self._state_str()}>"


class DebugBatch(BatchBase["DebugBatchItem"]):
    """A batch whose items resolve to the results they were created with; for tests and sync."""

    def __init__(self, name: str = "default", index: int = 0) -> None:
        super().__init__()
        self.name = name
        self.index = index

    def _try_switch_active_batch(self) -> None:
        active = _debug_state.batches
        if active.get(self.name) is self:
            active[self.name] = DebugBatch(self.name, self.index + 1)

    def _flush(self) -> None:
        for item in self.items:
            item.set_value(item.result)

    def __repr__(self) -> str:
        return f"<DebugBatch {self.name!r} #{self.index} {self._describe()}>"


class DebugBatchItem(BatchItemBase):
    """An item of the active ``DebugBatch`` named ``batch_name``; its value is ``result``."""

    def __init__(self, batch_name: str = "default", result: Any = None) -> None:
        batches = _debug_state.batches
        batch = batches.get(batch_name)
        if batch is None:
            batch = batches[batch_name] = DebugBatch(batch_name)
        super().__init__(batch)
        self.result = result


class _DebugBatchState(threading.local):
    def __init__(self) -> None:
        self.batches: dict[str, DebugBatch] = {}


_debug_state = _DebugBatchState()


def sync(tag: str = "sync") -> DebugBatchItem:
    """A sync point: ``yield sync()`` resumes only after the next round of batch flushes."""
    return DebugBatchItem(tag)

"""Per-thread scheduler statistics: rounds, batches, items, distinct keys, flush time, tasks and
synchronous calls made inside tasks (impure calls).

Always on and cheap: ``SchedulerStats`` is the instrument (``asynq.instruments``) that every
scheduler has from the start, as ``scheduler.stats``; the scheduler calls its ``before_round`` /
``after_batch_flush`` hooks once per round and per flushed batch, and bumps its ``tasks`` counter
when it starts a task; nothing here runs per task. A *round* is
one pass of flushes made when no task can make progress; its batches flush together, so the number
of rounds is the number of round trips a request paid for.

    with asynq.stats.measure() as stats:
        render_page(uid)
    print(stats.summary())          # totals, then one line per round
    stats.as_dict()                 # the same as plain data (for logs and dashboards)

``get_stats()`` gives the thread's running totals since the scheduler was created or reset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from operator import attrgetter
from typing import Any

from .instruments import Instrument, current_scheduler

__all__ = [
    "BatchRecord",
    "RoundRecord",
    "SchedulerStats",
    "NullStats",
    "get_stats",
    "measure",
    "reset",
    "enable",
    "disable",
    "distinct_keys",
    "ROUND_HISTORY",
]

#: How many recent rounds keep their per-batch detail (older rounds only count in the totals).
ROUND_HISTORY = 256

_get_key = attrgetter("key")


def distinct_keys(items: list[Any]) -> int | None:
    """How many different keys ``items`` (a batch's items) ask for, or None if they have none.

    An item names its key with a ``key`` attribute, or several with ``keys``; the first item
    decides which. Unhashable keys count by their ``repr``."""
    if not items:
        return 0
    first = items[0]
    if len(items) == 1 and hasattr(first, "key"):
        return 1
    try:
        if hasattr(first, "key"):
            try:
                return len(set(map(_get_key, items)))
            except TypeError:
                return len({_builtin_repr(item.key) for item in items})
        if hasattr(first, "keys") and not callable(first.keys):
            seen: set[Any] = set()
            for item in items:
                for key in item.keys:
                    try:
                        seen.add(key)
                    except TypeError:
                        seen.add(_builtin_repr(key))
            return len(seen)
    except AttributeError:  # items of mixed kinds in one batch: the count would be a guess
        return None
    return None


_builtin_repr = repr


class BatchRecord:
    """One flushed batch: its class name, how many items it held, how many distinct keys they
    asked for (None when the items have no ``key``), and how long ``flush()`` took."""

    __slots__ = ("kind", "items", "keys", "seconds")

    def __init__(self, kind: str, items: int, keys: int | None, seconds: float) -> None:
        self.kind = kind
        self.items = items
        self.keys = keys
        self.seconds = seconds

    def summary(self) -> str:
        """``KindBatch: 40 items (25 keys), 1.20 ms``."""
        keys = "" if self.keys is None else f" ({_plural(self.keys, 'key')})"
        return f"{self.kind}: {_plural(self.items, 'item')}{keys}, {self.seconds * 1000:.2f} ms"

    def as_dict(self) -> dict[str, Any]:
        """The record as plain data."""
        return {"kind": self.kind, "items": self.items, "keys": self.keys, "seconds": self.seconds}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchRecord):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"<BatchRecord {self.summary()}>"


class RoundRecord:
    """One round of flushes: its number (1 for the thread's first round) and its batches."""

    __slots__ = ("index", "batches")

    def __init__(self, index: int) -> None:
        self.index = index
        self.batches: list[BatchRecord] = []

    @property
    def seconds(self) -> float:
        """Time spent flushing this round's batches."""
        return sum(b.seconds for b in self.batches)

    @property
    def items(self) -> int:
        """Items flushed in this round, over all its batches."""
        return sum(b.items for b in self.batches)

    @property
    def keys(self) -> int | None:
        """Distinct keys per batch, summed over the round's batches that report keys."""
        counts = [b.keys for b in self.batches if b.keys is not None]
        return sum(counts) if counts else None

    def summary(self) -> str:
        """``round 2: 2 batches, 70 items (45 keys), 1.80 ms: A: ..., B: ...``."""
        keys = "" if self.keys is None else f" ({_plural(self.keys, 'key')})"
        head = (
            f"round {self.index}: {_plural(len(self.batches), 'batch', 'batches')}, "
            f"{_plural(self.items, 'item')}{keys}, {self.seconds * 1000:.2f} ms"
        )
        if not self.batches:
            return head
        return head + ": " + "; ".join(b.summary() for b in self.batches)

    def as_dict(self) -> dict[str, Any]:
        """The round as plain data, with its batches."""
        return {
            "index": self.index,
            "seconds": self.seconds,
            "items": self.items,
            "keys": self.keys,
            "batches": [b.as_dict() for b in self.batches],
        }

    def __repr__(self) -> str:
        return f"<RoundRecord {self.summary()}>"


class SchedulerStats(Instrument):
    """Counters of one thread's scheduler since it was created or last ``reset()``.

    ``rounds``, ``batches``, ``items``: flushes as described in the module docstring; ``keys``:
    distinct keys per batch, summed over batches whose items have keys; ``flush_seconds``: time
    inside ``flush()``; ``tasks``: tasks started; ``impure_calls``: synchronous calls of asynq
    functions made while a task ran (each is a separate, unbatched run). ``history`` has the
    per-batch detail of the last ``ROUND_HISTORY`` rounds.
    """

    __slots__ = (
        "rounds",
        "batches",
        "items",
        "keys",
        "flush_seconds",
        "tasks",
        "impure_calls",
        "_rounds",
        "_current",
    )

    def __init__(self) -> None:
        self.rounds = 0
        self.batches = 0
        self.items = 0
        self.keys = 0
        self.flush_seconds = 0.0
        self.tasks = 0
        self.impure_calls = 0
        # Recent rounds as plain tuples, cheap to record: (index, [(kind, items, keys, seconds)])
        # where kind is a batch class or its name. ``history`` turns them into records.
        self._rounds: deque[tuple[int, list[tuple[Any, int, int | None, float]]]] = deque(
            maxlen=ROUND_HISTORY
        )
        self._current: list[tuple[Any, int, int | None, float]] = []

    def reset(self) -> None:
        """Zero every counter and forget the round history."""
        self.__init__()  # type: ignore[misc]

    # -- instrument hooks: called by the scheduler, once per round and once per flushed batch ----

    def before_round(self) -> None:
        """Count a round; the batches flushed until the next one are recorded in it."""
        self.rounds += 1
        batches: list[tuple[Any, int, int | None, float]] = []
        self._rounds.append((self.rounds, batches))
        self._current = batches

    def after_batch_flush(self, batch: Any, items: Any, seconds: float) -> None:
        """Count one flushed ``batch`` that took ``seconds``, in the current round.

        ``items`` is ``batch.items`` as it was before the flush (some batches let go of items
        while flushing; memcache's drops the misses it hands to compute tasks)."""
        kind = type(batch)
        count = len(items)
        keys = distinct_keys(items)
        if keys is not None:
            self.keys += keys
        self.batches += 1
        self.items += count
        self.flush_seconds += seconds
        self._current.append((kind, count, keys, seconds))

    # -- reading ---------------------------------------------------------------------------------

    @property
    def history(self) -> list[RoundRecord]:
        """The remembered rounds, oldest first."""
        return [_round_record(index, batches) for index, batches in self._rounds]

    def copy(self) -> SchedulerStats:
        """An independent snapshot of the counters and history."""
        other = SchedulerStats()
        for name in _COUNTERS:
            setattr(other, name, getattr(self, name))
        other._rounds.extend((index, list(batches)) for index, batches in self._rounds)
        return other

    def since(self, before: SchedulerStats) -> SchedulerStats:
        """What happened after the snapshot ``before`` was taken (counters subtracted, only the
        rounds begun since)."""
        delta = SchedulerStats()
        for name in _COUNTERS:
            setattr(delta, name, getattr(self, name) - getattr(before, name))
        delta._rounds.extend(r for r in self._rounds if r[0] > before.rounds)
        return delta

    def as_dict(self, rounds: bool = True) -> dict[str, Any]:
        """The counters as plain data; with ``rounds``, also ``"round_history"``: one dict per
        remembered round (see ``RoundRecord.as_dict``)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _COUNTERS}
        if rounds:
            data["round_history"] = [r.as_dict() for r in self.history]
        return data

    def summary(self, max_rounds: int = 20) -> str:
        """A readable report: one line of totals, then one line per round (the first
        ``max_rounds`` remembered ones)."""
        lines = [self._totals()]
        history = self.history
        lines += ["  " + r.summary() for r in history[:max_rounds]]
        if len(history) > max_rounds:
            lines.append(f"  ... {len(history) - max_rounds} more round(s)")
        return "\n".join(lines)

    def _totals(self) -> str:
        keys = f" ({_plural(self.keys, 'distinct key')})" if self.keys else ""
        return (
            f"{_plural(self.tasks, 'task')}, {_plural(self.rounds, 'round')}, "
            f"{_plural(self.batches, 'batch flush', 'batch flushes')}, "
            f"{_plural(self.items, 'item')}{keys}, {self.flush_seconds * 1000:.2f} ms flushing, "
            f"{_plural(self.impure_calls, 'synchronous call')} inside tasks"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._totals()}>"


def _round_record(index: int, batches: list[tuple[Any, int, int | None, float]]) -> RoundRecord:
    record = RoundRecord(index)
    record.batches = [
        BatchRecord(kind if type(kind) is str else kind.__name__, items, keys, seconds)
        for kind, items, keys, seconds in batches
    ]
    return record


_COUNTERS = ("rounds", "batches", "items", "keys", "flush_seconds", "tasks", "impure_calls")


class NullStats(SchedulerStats):
    """Statistics switched off (``disable()``): rounds and flushes are not recorded. The kernel
    still bumps ``tasks`` and ``impure_calls``, which costs the same as before."""

    __slots__ = ()

    def before_round(self) -> None:
        """Records nothing."""

    def after_batch_flush(self, batch: Any, items: Any, seconds: float) -> None:
        """Records nothing."""

    def summary(self, max_rounds: int = 20) -> str:
        """Says that statistics are off."""
        return "statistics are off (asynq.stats.enable() turns them on)"


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


def _scheduler() -> Any:
    return current_scheduler()


def get_stats() -> SchedulerStats:
    """The calling thread's statistics (running totals since its scheduler was reset)."""
    stats: SchedulerStats = _scheduler().stats
    return stats


def reset() -> None:
    """Zero the calling thread's statistics (its scheduler keeps its tasks and batches)."""
    _scheduler().stats.reset()


@contextmanager
def measure() -> Iterator[SchedulerStats]:
    """Statistics of the ``with`` block alone: the yielded object is filled in when it exits."""
    stats = get_stats()
    before = stats.copy()
    result = SchedulerStats()
    try:
        yield result
    finally:
        delta = get_stats().since(before)
        for name in _COUNTERS:
            setattr(result, name, getattr(delta, name))
        result._rounds.extend(delta._rounds)


def disable() -> None:
    """Stop recording rounds and flushes on the calling thread (see ``NullStats``)."""
    scheduler = _scheduler()
    if not isinstance(scheduler.stats, NullStats):
        scheduler.stats = NullStats()


def enable() -> None:
    """Record rounds and flushes again on the calling thread (counters start from zero)."""
    scheduler = _scheduler()
    if isinstance(scheduler.stats, NullStats):
        scheduler.stats = SchedulerStats()

"""Per-thread scheduler statistics: rounds, batches, items, flush time, tasks, impure calls.

Always on and cheap: counters move once per task start and once per batch flush. A *round* is one
pass of flushes made when no task can make progress; its batches flush together.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchRecord", "RoundRecord", "SchedulerStats"]

#: How many recent rounds keep their per-batch detail.
ROUND_HISTORY = 256


@dataclass
class BatchRecord:
    """One flushed batch: its class name, how many items it held, how long ``flush()`` took."""

    kind: str
    items: int
    seconds: float


@dataclass
class RoundRecord:
    """One round of flushes."""

    index: int
    batches: list[BatchRecord] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Time spent flushing this round's batches."""
        return sum(b.seconds for b in self.batches)


class SchedulerStats:
    """Counters of one thread's scheduler since it was created or last ``reset()``."""

    __slots__ = ("rounds", "batches", "items", "flush_seconds", "tasks", "impure_calls", "history")

    def __init__(self) -> None:
        self.rounds = 0
        self.batches = 0
        self.items = 0
        self.flush_seconds = 0.0
        self.tasks = 0
        self.impure_calls = 0
        self.history: deque[RoundRecord] = deque(maxlen=ROUND_HISTORY)

    def reset(self) -> None:
        """Zero every counter and forget the round history."""
        self.__init__()  # type: ignore[misc]

    def _begin_round(self) -> RoundRecord:
        self.rounds += 1
        record = RoundRecord(self.rounds)
        self.history.append(record)
        return record

    def _record_flush(self, record: RoundRecord, kind: str, items: int, seconds: float) -> None:
        self.batches += 1
        self.items += items
        self.flush_seconds += seconds
        record.batches.append(BatchRecord(kind, items, seconds))

    def as_dict(self) -> dict[str, Any]:
        """The counters as a plain dict (round history excluded)."""
        return {
            "rounds": self.rounds,
            "batches": self.batches,
            "items": self.items,
            "flush_seconds": self.flush_seconds,
            "tasks": self.tasks,
            "impure_calls": self.impure_calls,
        }

    def summary(self) -> str:
        """One readable line of the counters."""
        return (
            f"{self.tasks} task(s), {self.rounds} round(s), {self.batches} batch flush(es), "
            f"{self.items} item(s), {self.flush_seconds * 1000:.2f} ms flushing, "
            f"{self.impure_calls} synchronous call(s) inside tasks"
        )

    def __repr__(self) -> str:
        return f"<SchedulerStats {self.summary()}>"

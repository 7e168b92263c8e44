"""Per-task performance records, compatible with asynq 1.6's ``asynq.profiler``.

    debug.options.COLLECT_PERF_STATS = True
    render_page(uid)
    records = profiler.flush()      # and start over

While ``debug.options.COLLECT_PERF_STATS`` is on, every finished task appends a dict::

    {"name": "000002.module.fn((args,) {kwargs})", "num_deps": 2,
     "dependencies": ["000003.module.dep((...) {...})", "module.Item"], "time_taken": 12}

and every flushed batch ``{"name": "module.Batch (flushed, 3 item(s))", "time_taken": 40,
"dependencies": ["module.Item", "module.Item", "module.Item"]}``: what each waited on, tasks by
name, other futures (batch items) by class. ``time_taken`` is in microseconds and counts only the task's own steps,
not the tasks it ran synchronously; the six-digit number orders tasks as the profiler first saw
them. Records are kept per thread, like asynq 1.6's.

Costs nothing while the switch is off: turning it on installs the profiler as an instrument on the
thread's scheduler (see ``asynq.instruments``); turning it off, or the next task step after it was
turned off, removes it. A thread started after the switch was turned on starts recording when it first calls
``reset()`` or ``flush()`` (what a request handler does at its start and end).
"""

from __future__ import annotations

import threading
from time import perf_counter
from typing import Any

from ._debug import options
from .async_task import AsyncTask
from .batching import BatchBase
from .instruments import Instrument, futures_in
from .scheduler import TaskScheduler, get_scheduler

__all__ = ["flush", "append", "reset", "incr_counter", "LocalProfileState"]


class LocalProfileState(threading.local):
    """The calling thread's records and task counter."""

    def __init__(self) -> None:
        self.stats: list[Any] = []
        self.counter = 0


_state = LocalProfileState()


def incr_counter() -> int:
    """The next number for a task name (1 after ``flush()`` or ``reset()``)."""
    _state.counter += 1
    return _state.counter


def append(stats: Any) -> None:
    """Add one record (any object) to this thread's list."""
    _state.stats.append(stats)


def flush() -> list[Any]:
    """Return this thread's records and start a new list (the counter starts over too)."""
    _sync_thread()
    records = _state.stats
    _state.stats = []
    _state.counter = 0
    return records


def reset() -> None:
    """Drop this thread's records and restart the counter."""
    _sync_thread()
    _state.stats = []
    _state.counter = 0


class _Profiler(Instrument):
    """Turns one scheduler's steps and flushes into asynq 1.6-style records."""

    def __init__(self, scheduler: TaskScheduler) -> None:
        self.scheduler = scheduler
        # task -> [name, own seconds so far, dependency names]
        self.open: dict[AsyncTask[Any], list[Any]] = {}
        # batch -> (flush start, its items as they were before the flush)
        self.flushing: dict[BatchBase[Any], tuple[float, list[Any]]] = {}

    def _name(self, task: AsyncTask[Any]) -> str:
        record = self.open.get(task)
        if record is None:
            record = self.open[task] = [_task_name(task), 0.0, []]
        name: str = record[0]
        return name

    def after_task_step(self, task: AsyncTask[Any], start: float, end: float, own: float) -> None:
        """Add the step's own time to the task's record; write the record once it finished."""
        if not options.COLLECT_PERF_STATS:
            _set_enabled(False, self.scheduler)
            return
        record = self.open.get(task)
        if record is None:
            record = self.open[task] = [_task_name(task), 0.0, []]
        record[1] += own
        yielded = task.blocked_on
        if yielded is None:  # finished
            del self.open[task]
            append(
                {
                    "name": record[0],
                    "num_deps": len(record[2]),
                    "dependencies": record[2],
                    "time_taken": int(record[1] * 1e6),
                }
            )
            return
        for leaf in futures_in(yielded):
            record[2].append(self._name(leaf) if isinstance(leaf, AsyncTask) else _kind(leaf))

    def before_batch_flush(self, batch: BatchBase[Any]) -> None:
        """Note when the flush starts and the items it flushes."""
        self.flushing[batch] = (perf_counter(), list(batch.items))

    def after_batch_flush(self, batch: BatchBase[Any], items: list[Any], seconds: float) -> None:
        """Write the batch's record."""
        now = perf_counter()
        started, items = self.flushing.pop(batch, (now, []))
        if not options.COLLECT_PERF_STATS:
            return
        cls = type(batch)
        append(
            {
                "time_taken": int((now - started) * 1e6),
                "name": f"{cls.__module__}.{cls.__qualname__} ({_describe(batch)})",
                "dependencies": [_kind(item) for item in items],
            }
        )


def _describe(batch: BatchBase[Any]) -> str:
    state = "cancelled" if batch.is_cancelled() else ("flushed" if batch.is_flushed() else "pending")
    return f"{state}, {len(batch.items)} item(s)"


def _kind(future: Any) -> str:
    """How a record names a dependency that is not a task (a batch item, another future)."""
    cls = type(future)
    return f"{cls.__module__}.{cls.__qualname__}"


def _task_name(task: AsyncTask[Any]) -> str:
    fn = task.fn
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
    args = tuple(task.args)
    return f"{incr_counter():06d}.{getattr(fn, '__module__', '')}.{name}({args!r} {task.kwargs!r})"


def _sync_thread() -> None:
    """Attach or detach this thread's scheduler to match ``options.COLLECT_PERF_STATS``."""
    _set_enabled(options.COLLECT_PERF_STATS)


def _set_enabled(enabled: bool, scheduler: TaskScheduler | None = None) -> None:
    """Install a profiler on ``scheduler`` (default: this thread's) or remove it."""
    if scheduler is None:
        scheduler = get_scheduler()
    installed = [i for i in scheduler.instruments if isinstance(i, _Profiler)]
    if enabled and not installed:
        scheduler.add_instrument(_Profiler(scheduler))
    elif not enabled:
        for profiler in installed:
            profiler.open.clear()
            scheduler.remove_instrument(profiler)


options.watch_perf_stats(_set_enabled)

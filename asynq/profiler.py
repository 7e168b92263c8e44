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

Costs nothing while the switch is off: turning it on makes the thread's scheduler report to the
profiler (see ``asynq.tracing``); turning it off, or the next task step after it was turned off,
detaches it. A thread started after the switch was turned on starts recording when it first calls
``reset()`` or ``flush()`` (what a request handler does at its start and end).
"""

from __future__ import annotations

import threading
from typing import Any

from ._debug import options
from .async_task import AsyncTask
from .batching import BatchBase
from .scheduler import TaskScheduler, get_scheduler
from .tracing import _attach, _detach, _leaves, _Observer

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


class _Profiler(_Observer):
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

    def _step(self, task: AsyncTask[Any], start: float, end: float, own: float, outer: Any) -> None:
        if not options.COLLECT_PERF_STATS:
            _set_enabled(False, self.scheduler)
            return
        record = self.open.get(task)
        if record is None:
            record = self.open[task] = [_task_name(task), 0.0, []]
        record[1] += own
        if task._computed:
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
        leaves: list[Any] = []
        _leaves(task._yielded, leaves)
        for leaf in leaves:
            record[2].append(self._name(leaf) if isinstance(leaf, AsyncTask) else _kind(leaf))

    def _batch_begin(self, batch: BatchBase[Any], now: float) -> None:
        self.flushing[batch] = (now, list(batch.items))

    def _batch_end(self, batch: BatchBase[Any], now: float) -> None:
        started, items = self.flushing.pop(batch, (now, []))
        if not options.COLLECT_PERF_STATS:
            return
        cls = type(batch)
        append(
            {
                "time_taken": int((now - started) * 1e6),
                "name": f"{cls.__module__}.{cls.__qualname__} ({batch._describe()})",
                "dependencies": [_kind(item) for item in items],
            }
        )


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
    """Attach a profiler to ``scheduler`` (default: this thread's) or detach it."""
    if scheduler is None:
        scheduler = get_scheduler()
    state: Any = scheduler
    profiler: _Profiler | None = getattr(state, "_obs_profiler", None)
    if enabled and profiler is None:
        state._obs_profiler = profiler = _Profiler(scheduler)
        _attach(profiler, scheduler)
    elif not enabled and profiler is not None:
        state._obs_profiler = None
        profiler.open.clear()
        _detach(profiler, scheduler)

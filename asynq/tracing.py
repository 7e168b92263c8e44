"""Trace recorder: what ran, what waited on what, and what each round flushed.

    with asynq.trace() as t:
        render_page(uid)
    print(t.summary())
    asynq.tracing.write_trace_files(t, "out/")   # out/trace.json, out/trace.dot, out/trace.svg

A trace records, on the calling thread, every task that runs inside the block (function, arguments,
the task that created it, when it started and finished, each step it ran), what each task waited
on when it blocked (other tasks, batches), and every round of flushes with its batches (kind,
items, distinct keys, a sample of the keys, time). It exports

- Chrome trace-event JSON (``to_chrome``/``write_chrome``) for Perfetto (ui.perfetto.dev) or
  ``chrome://tracing``: the rounds with their batch flushes nested in them, one track per round;
  one bar per task from its start to its end; and the steps the thread actually ran;
- the dependency graph as Graphviz DOT (``to_dot``/``write_dot``), rendered to SVG by ``dot`` when
  it is installed (``write_svg``): tasks are ellipses, batches are boxes grouped by round, and an
  arrow goes from each task to what it waited on. Large traces collapse to one node per function.

Setting the environment variable ``ASYNQ_TRACE`` to a directory traces the thread that imports
asynq until the program exits, then writes the files there.

How it stays free when off: nothing in the kernel checks for tracing. While a trace (or the
profiler) is active, the thread's scheduler object gets a subclass of its own class whose ``_run``
and ``_flush_round`` time the kernel's methods and report to the active observers; the class is
restored when the last observer detaches. Start a trace outside asynq functions: a scheduler loop
that is already running keeps calling the methods it started with.
"""

from __future__ import annotations

import atexit
import heapq
import html
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable
from itertools import islice
from time import perf_counter
from types import TracebackType
from typing import Any

from . import futures
from .async_task import AsyncTask
from .batching import BatchBase
from .scheduler import _BATCH, _ITEM, _TASK, TaskScheduler, _kind_of, _kinds, get_scheduler
from .stats import SchedulerStats, distinct_keys, get_stats

__all__ = [
    "Trace",
    "TaskTrace",
    "BatchTrace",
    "RoundTrace",
    "trace",
    "write_trace_files",
    "dot_available",
    "TRACE_ENV",
]

#: The largest picture ``to_dot(detail="auto")`` aims for, in points (1/72 inch) each way: about
#: 1,900 pixels at 96 dpi, the width of a screen.
MAX_PICTURE_POINTS = 1400

#: Environment variable: trace the importing thread and write the files into this directory.
TRACE_ENV = "ASYNQ_TRACE"
#: How many keys of each batch a trace keeps (as reprs).
KEY_SAMPLE = 20


# -- observing a scheduler ---------------------------------------------------------------------------


class _Observer:
    """Receives what an instrumented scheduler does. Times are ``time.perf_counter()`` values."""

    def _step(self, task: AsyncTask[Any], start: float, end: float, own: float, outer: Any) -> None:
        """``task`` ran one step from ``start`` to ``end``; ``own`` excludes nested runs and
        flushes (synchronous calls it made); ``outer`` is the task whose step this one ran
        inside, or None."""

    def _round_begin(self, now: float) -> None:
        """A round of flushes begins."""

    def _round_end(self, now: float) -> None:
        """The round that began last ends."""

    def _batch_begin(self, batch: BatchBase[Any], now: float) -> None:
        """``batch.flush()`` is about to be called."""

    def _batch_end(self, batch: BatchBase[Any], now: float) -> None:
        """``batch.flush()`` returned."""


_classes: dict[type, type] = {}
_lock = threading.Lock()


def _instrumented_class(base: type) -> type:
    """A subclass of the scheduler class ``base`` that reports to observers (made once)."""
    with _lock:
        cls = _classes.get(base)
        if cls is not None:
            return cls
        base_run = base._run  # type: ignore[attr-defined]
        base_flush_round = base._flush_round  # type: ignore[attr-defined]

        def _run(self: Any, task: AsyncTask[Any]) -> None:
            if task._computed:
                return
            # One float per running step: time spent in nested runs and flushes (synchronous
            # calls), so that observers can tell a step's own time.
            nested = self._obs_nested
            nested.append(0.0)
            start = perf_counter()
            try:
                base_run(self, task)
            finally:
                end = perf_counter()
                own = end - start - nested.pop()
                if nested:
                    nested[-1] += end - start
                for observer in self._obs_observers:
                    observer._step(task, start, end, own, self.active_task)

        def _flush_round(self: Any) -> None:
            start = perf_counter()
            for observer in self._obs_observers:
                observer._round_begin(start)
            try:
                base_flush_round(self)
            finally:
                end = perf_counter()
                if self._obs_nested:
                    self._obs_nested[-1] += end - start
                for observer in self._obs_observers:
                    observer._round_end(end)

        namespace = {
            "_run": _run,
            "_flush_round": _flush_round,
            "_hand_off": False,  # every task must pass through _run to be seen
            "__module__": __name__,
        }
        cls = type(f"Traced{base.__name__}", (base,), namespace)
        cls.__doc__ = f"{base.__name__} that reports tasks and flushes to traces and the profiler."
        _classes[base] = cls
        return cls


def _attach(observer: _Observer, scheduler: TaskScheduler | None = None) -> TaskScheduler:
    """Make ``scheduler`` (default: this thread's) report to ``observer``."""
    if scheduler is None:
        scheduler = get_scheduler()
    state: Any = scheduler
    observers: tuple[_Observer, ...] = getattr(state, "_obs_observers", ())
    if observer in observers:
        return scheduler
    if not observers:
        original = type(scheduler)
        state._obs_original_class = original
        state._obs_nested = []
        state._obs_before = lambda batch: _each(state, "_batch_begin", batch)
        state._obs_after = lambda batch: _each(state, "_batch_end", batch)
        scheduler.on_before_batch_flush.subscribe(state._obs_before)
        scheduler.on_after_batch_flush.subscribe(state._obs_after)
        state._obs_observers = (observer,)
        scheduler.__class__ = _instrumented_class(original)
    else:
        state._obs_observers = observers + (observer,)
    return scheduler


def _detach(observer: _Observer, scheduler: TaskScheduler) -> None:
    """Stop reporting to ``observer``; restore the scheduler's class once none is left."""
    state: Any = scheduler
    observers: tuple[_Observer, ...] = getattr(state, "_obs_observers", ())
    if observer not in observers:
        return
    state._obs_observers = tuple(o for o in observers if o is not observer)
    if not state._obs_observers:
        scheduler.__class__ = state._obs_original_class
        scheduler.on_before_batch_flush.unsubscribe(state._obs_before)
        scheduler.on_after_batch_flush.unsubscribe(state._obs_after)
        del state._obs_before, state._obs_after


def _each(scheduler: Any, method: str, batch: BatchBase[Any]) -> None:
    now = perf_counter()
    for observer in scheduler._obs_observers:
        getattr(observer, method)(batch, now)


def _leaves(yielded: Any, out: list[Any]) -> None:
    """The futures in a yielded value (containers walked)."""
    cls = type(yielded)
    if cls is list or cls is tuple:
        for item in yielded:
            _leaves(item, out)
    elif cls is dict:
        for item in yielded.values():
            _leaves(item, out)
    elif isinstance(yielded, futures.FutureBase):
        out.append(yielded)


# -- what a trace holds ------------------------------------------------------------------------------


class TaskTrace:
    """One task seen by a trace. Times are seconds since the trace started; ``start`` is None
    for a task that never ran inside the trace, ``end`` is None for one that did not finish.
    ``name``, ``module``, ``args`` (short reprs), ``steps`` and ``waits_on`` are worked out when
    first read, so that recording stays cheap."""

    __slots__ = (
        "id",
        "creator",
        "sync_call_in",
        "start",
        "end",
        "run_seconds",
        "error",
        "_trace",
        "_fn",
        "_args",
        "_kwargs",
        "_names",
        "_steps",
        "_waits_on",
    )

    def __init__(self, trace: Trace, id: int, task: AsyncTask[Any], creator: int | None) -> None:
        self.id = id
        self.creator = creator
        #: The task whose step was running when this one was called synchronously inside it.
        self.sync_call_in: int | None = None
        self.start: float | None = None
        self.end: float | None = None
        #: Step time minus what ran nested in the steps (synchronous calls).
        self.run_seconds = 0.0
        self.error: str | None = None
        self._trace = trace
        self._fn: Any = task.fn
        self._args: Any = task.args
        self._kwargs: Any = task.kwargs
        self._names: tuple[str, str, str] | None = None
        self._steps: list[tuple[float, float]] | None = None
        self._waits_on: list[tuple[str, int]] | None = None

    def _describe(self) -> tuple[str, str, str]:
        names = self._names
        if names is None:
            fn = self._fn
            name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
            name = name.rsplit("<locals>.", 1)[-1]  # a nested function: its own name reads best
            parts = [futures._short_repr(a, 40) for a in self._args]
            parts += [f"{k}={futures._short_repr(v, 40)}" for k, v in self._kwargs.items()]
            names = self._names = (name, getattr(fn, "__module__", None) or "", ", ".join(parts))
            self._fn = self._args = self._kwargs = None
        return names

    @property
    def name(self) -> str:
        """The function's qualified name (a nested function: its own name)."""
        return self._describe()[0]

    @property
    def module(self) -> str:
        """The function's module."""
        return self._describe()[1]

    @property
    def args(self) -> str:
        """The arguments, shortened reprs separated by commas."""
        return self._describe()[2]

    @property
    def label(self) -> str:
        """``name(args)``."""
        name, _, args = self._describe()
        return f"{name}({args})"

    @property
    def steps(self) -> list[tuple[float, float]]:
        """``(start, end)`` of each step the scheduler ran."""
        if self._steps is None:
            self._trace._unpack()
        return self._steps or []

    @property
    def waits_on(self) -> list[tuple[str, int]]:
        """What the task waited on each time it blocked, in order: ``("task", id)`` or
        ``("batch", id)``."""
        if self._waits_on is None:
            self._trace._unpack()
        return self._waits_on or []

    def as_dict(self) -> dict[str, Any]:
        """The record as plain data."""
        return {
            "id": self.id,
            "name": self.name,
            "module": self.module,
            "args": self.args,
            "creator": self.creator,
            "sync_call_in": self.sync_call_in,
            "start": self.start,
            "end": self.end,
            "steps": [list(step) for step in self.steps],
            "run_seconds": self.run_seconds,
            "waits_on": [list(w) for w in self.waits_on],
            "error": self.error,
        }

    def __repr__(self) -> str:
        return f"<TaskTrace #{self.id} {self.label}>"


class BatchTrace:
    """One batch seen by a trace: flushed in round ``round`` (None if it never flushed inside
    the trace), from ``start`` to ``end`` seconds after the trace started."""

    __slots__ = ("id", "kind", "round", "items", "keys", "key_sample", "start", "end", "_batch")

    def __init__(self, id: int, batch: BatchBase[Any]) -> None:
        self.id = id
        self._batch: BatchBase[Any] | None = batch
        self.kind = type(batch).__name__
        self.round: int | None = None
        self.items = 0
        self.keys: int | None = None
        self.key_sample: list[str] = []
        self.start: float | None = None
        self.end: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The record as plain data."""
        return {name: getattr(self, name) for name in self.__slots__ if name != "_batch"}

    def __repr__(self) -> str:
        return f"<BatchTrace #{self.id} {self.kind} round={self.round} items={self.items}>"


class RoundTrace:
    """One round of flushes (numbered from 1 within the trace) and the ids of its batches."""

    __slots__ = ("index", "start", "end", "batches")

    def __init__(self, index: int, start: float) -> None:
        self.index = index
        self.start = start
        self.end = start
        self.batches: list[int] = []

    def as_dict(self) -> dict[str, Any]:
        """The record as plain data."""
        return {"index": self.index, "start": self.start, "end": self.end, "batches": self.batches}

    def __repr__(self) -> str:
        return f"<RoundTrace {self.index}: {len(self.batches)} batch(es)>"


class Trace(_Observer):
    """A recording of one thread's scheduler; use as ``with trace() as t:`` (or ``start()`` /
    ``stop()``). After it stops, ``tasks``, ``batches`` and ``rounds`` hold the records (in the
    order first seen), ``stats`` the scheduler statistics of the traced stretch."""

    def __init__(self) -> None:
        self.tasks: list[TaskTrace] = []
        self.batches: list[BatchTrace] = []
        self.rounds: list[RoundTrace] = []
        self.stats = SchedulerStats()
        self.thread = threading.current_thread().name
        self.duration = 0.0
        self._t0 = 0.0
        self._scheduler: TaskScheduler | None = None
        self._by_task: dict[AsyncTask[Any], TaskTrace] = {}
        self._by_batch: dict[BatchBase[Any], BatchTrace] = {}
        self._open_rounds: list[RoundTrace] = []
        self._stats_before: SchedulerStats | None = None
        # Flat logs while recording (few allocations per step): record, start, end for steps;
        # waiting record, awaited record (task or batch) for waits. Unpacked when first read.
        self._step_log: list[Any] = []
        self._wait_log: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether the trace is recording."""
        return self._scheduler is not None

    def start(self) -> Trace:
        """Begin recording the calling thread's scheduler."""
        if self._scheduler is not None or self._t0:
            raise RuntimeError("this trace has already recorded; start a new trace()")
        self._stats_before = get_stats().copy()
        self._t0 = perf_counter()
        self._scheduler = _attach(self)
        return self

    def stop(self) -> Trace:
        """Stop recording and let go of the tasks and batches (only the records stay)."""
        scheduler = self._scheduler
        if scheduler is None:
            return self
        end = perf_counter()
        _detach(self, scheduler)
        self._scheduler = None
        if self._stats_before is not None:
            self.stats = scheduler.stats.since(self._stats_before)
        t0 = self._t0
        self.duration = end - t0
        for task, record in self._by_task.items():
            if record.start is not None:
                record.start -= t0
            if record.end is not None:
                record.end -= t0
            elif task._computed and task._error is not None:
                record.error = _error_repr(task._error)
        for batch_record in self.batches:
            batch_record._batch = None
            if batch_record.start is not None:
                batch_record.start -= t0
            if batch_record.end is not None:
                batch_record.end -= t0
        for round_ in self.rounds:
            round_.start -= t0
            round_.end -= t0
        self._by_task.clear()
        self._by_batch.clear()
        return self

    def _unpack(self) -> None:
        """Fill in every task's ``steps`` and ``waits_on`` from the flat logs."""
        if self._scheduler is not None:
            raise RuntimeError("a trace's steps can be read once it has stopped")
        for record in self.tasks:
            record._steps = []
            record._waits_on = []
        t0 = self._t0
        log = self._step_log
        for i in range(0, len(log), 3):
            log[i]._steps.append((log[i + 1] - t0, log[i + 2] - t0))
        log = self._wait_log
        for i in range(0, len(log), 2):
            target = log[i + 1]
            kind = "task" if type(target) is TaskTrace else "batch"
            log[i]._waits_on.append((kind, target.id))
        self._step_log = []
        self._wait_log = []

    def __enter__(self) -> Trace:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- recording (called by the instrumented scheduler; times are raw perf_counter values
    #    until stop() makes them relative) ------------------------------------------------------

    def _task_record(self, task: AsyncTask[Any]) -> TaskTrace:
        record = self._by_task.get(task)
        if record is None:
            creator = task.creator
            if creator is None:
                creator_id = None
            else:
                creator_record = self._by_task.get(creator)
                if creator_record is None:
                    creator_record = self._task_record(creator)
                creator_id = creator_record.id
            record = TaskTrace(self, len(self.tasks) + 1, task, creator_id)
            self._by_task[task] = record
            self.tasks.append(record)
        return record

    def _batch_record(self, batch: BatchBase[Any]) -> BatchTrace:
        record = self._by_batch.get(batch)
        if record is None:
            record = BatchTrace(len(self.batches) + 1, batch)
            self._by_batch[batch] = record
            self.batches.append(record)
        return record

    def _step(self, task: AsyncTask[Any], start: float, end: float, own: float, outer: Any) -> None:
        record = self._by_task.get(task)
        if record is None:
            record = self._task_record(task)
        if record.start is None:
            record.start = start
            if outer is not None and task.creator is outer:
                record.sync_call_in = self._task_record(task.creator).id
        log = self._step_log
        log.append(record)
        log.append(start)
        log.append(end)
        record.run_seconds += own
        if task._computed:
            record.end = end
            if task._error is not None:
                record.error = _error_repr(task._error)
            return
        yielded: Any = task._yielded
        waits = self._wait_log
        kind = _kinds.get(type(yielded))
        if kind == _TASK:
            waits.append(record)
            waits.append(self._by_task.get(yielded) or self._task_record(yielded))
        elif kind == _ITEM:
            waits.append(record)
            waits.append(self._batch_record(yielded.batch))
        else:
            leaves: list[Any] = []
            _leaves(yielded, leaves)
            by_task = self._by_task
            for leaf in leaves:
                kind = _kinds.get(type(leaf))
                if kind is None:
                    kind = _kind_of(type(leaf))
                if kind == _TASK:
                    waits.append(record)
                    waits.append(by_task.get(leaf) or self._task_record(leaf))
                elif kind == _ITEM:
                    waits.append(record)
                    waits.append(self._batch_record(leaf.batch))
                elif kind == _BATCH:
                    waits.append(record)
                    waits.append(self._batch_record(leaf))

    def _round_begin(self, now: float) -> None:
        self._open_rounds.append(RoundTrace(len(self.rounds) + 1, now))
        self.rounds.append(self._open_rounds[-1])

    def _round_end(self, now: float) -> None:
        if self._open_rounds:
            self._open_rounds.pop().end = now

    def _batch_begin(self, batch: BatchBase[Any], now: float) -> None:
        record = self._batch_record(batch)
        # Counted before the flush: some batches let go of items while flushing.
        items = batch.items
        record.items = len(items)
        record.keys = distinct_keys(items)
        record.key_sample = _key_sample(items)
        record.start = perf_counter()
        if self._open_rounds:
            current = self._open_rounds[-1]
            record.round = current.index
            current.batches.append(record.id)

    def _batch_end(self, batch: BatchBase[Any], now: float) -> None:
        self._batch_record(batch).end = now

    # -- reading ---------------------------------------------------------------------------------

    def task(self, id: int) -> TaskTrace:
        """The task record with this id."""
        return self.tasks[id - 1]

    def batch(self, id: int) -> BatchTrace:
        """The batch record with this id."""
        return self.batches[id - 1]

    def summary(self) -> str:
        """A few readable lines: tasks, rounds, and what each round flushed."""
        flushed = [b for b in self.batches if b.round is not None]
        lines = [
            f"trace of thread {self.thread}: {_plural(len(self.tasks), 'task')}, "
            f"{_plural(len(self.rounds), 'round')}, "
            f"{_plural(len(flushed), 'batch flush', 'batch flushes')}, "
            f"{self.duration * 1000:.2f} ms"
        ]
        for round_ in self.rounds:
            parts = []
            for batch_id in round_.batches:
                b = self.batch(batch_id)
                keys = "" if b.keys is None else f", {_plural(b.keys, 'key')}"
                parts.append(f"{b.kind} ({_plural(b.items, 'item')}{keys})")
            lines.append(
                f"  round {round_.index}: {(round_.end - round_.start) * 1000:.2f} ms: "
                + (", ".join(parts) or "nothing flushed")
            )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Everything recorded, as plain data."""
        return {
            "thread": self.thread,
            "duration": self.duration,
            "tasks": [t.as_dict() for t in self.tasks],
            "batches": [b.as_dict() for b in self.batches],
            "rounds": [r.as_dict() for r in self.rounds],
            "stats": self.stats.as_dict(),
        }

    # -- Chrome trace events ---------------------------------------------------------------------

    def to_chrome(self) -> dict[str, Any]:
        """The trace as Chrome trace-event JSON data (``{"traceEvents": [...]}``).

        Process 1 holds the rounds: one track per round, with one event for the round and, nested
        in it, one event per flushed batch. Process 2 holds the tasks: one event per task from its
        first step to its end, spread over as many lanes as needed so that bars never overlap on
        a track, and a "steps" track with each step the thread ran."""
        events: list[dict[str, Any]] = []

        def meta(pid: int, tid: int | None, kind: str, value: Any) -> None:
            event: dict[str, Any] = {"name": kind, "ph": "M", "pid": pid, "args": {}}
            if tid is not None:
                event["tid"] = tid
            if kind.endswith("sort_index"):
                event["args"]["sort_index"] = value
            else:
                event["args"]["name"] = value
            events.append(event)

        meta(1, None, "process_name", f"asynq rounds ({self.thread})")
        meta(1, None, "process_sort_index", 1)
        meta(2, None, "process_name", f"asynq tasks ({self.thread})")
        meta(2, None, "process_sort_index", 2)
        for round_ in self.rounds:
            meta(1, round_.index, "thread_name", f"round {round_.index}")
            meta(1, round_.index, "thread_sort_index", round_.index)
            batches = [self.batch(i) for i in round_.batches]
            events.append(
                _complete(
                    f"round {round_.index}",
                    "round",
                    round_.start,
                    round_.end,
                    1,
                    round_.index,
                    {
                        "batches": len(batches),
                        "items": sum(b.items for b in batches),
                        "keys": sum(b.keys or 0 for b in batches),
                    },
                )
            )
            for b in batches:
                start = b.start if b.start is not None else round_.start
                events.append(
                    _complete(
                        f"{b.kind} ({_plural(b.items, 'item')})",
                        "batch",
                        start,
                        b.end if b.end is not None else start,
                        1,
                        round_.index,
                        {
                            "batch": b.id,
                            "items": b.items,
                            "keys": b.keys,
                            "key_sample": b.key_sample,
                        },
                    )
                )
        meta(2, 0, "thread_name", "steps")
        meta(2, 0, "thread_sort_index", 0)
        for t in self.tasks:
            for start, end in t.steps:
                events.append(_complete(t.label, "step", start, end, 2, 0, {"task": t.id}))
        ran = [t for t in self.tasks if t.start is not None]
        lanes = _lanes(
            [(t.start or 0.0, t.end if t.end is not None else self.duration) for t in ran]
        )
        for lane in sorted(set(lanes)):
            meta(2, lane, "thread_name", f"tasks {lane}")
            meta(2, lane, "thread_sort_index", lane)
        for t, lane in zip(ran, lanes, strict=True):
            start = t.start or 0.0
            events.append(
                _complete(
                    t.label,
                    "task",
                    start,
                    t.end if t.end is not None else max(self.duration, start),
                    2,
                    lane,
                    {
                        "task": t.id,
                        "creator": t.creator,
                        "waits_on": [f"{kind} {i}" for kind, i in t.waits_on],
                        "steps": len(t.steps),
                        "run_us": round(t.run_seconds * 1e6, 3),
                        "finished": t.end is not None,
                        "error": t.error,
                        "sync_call_in": t.sync_call_in,
                    },
                )
            )
        return {
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": {"source": "asynq", "stats": self.stats.as_dict(rounds=False)},
        }

    def write_chrome(self, path: str) -> str:
        """Write ``to_chrome()`` as JSON to ``path``; returns the path."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_chrome(), f)
        return path

    # -- the dependency graph --------------------------------------------------------------------

    def to_dot(
        self, detail: str = "auto", max_tasks: int = 60, max_points: int = MAX_PICTURE_POINTS
    ) -> str:
        """The dependency graph in Graphviz DOT.

        ``detail="tasks"``: one node per task; ``"calls"``: the tasks one task created for the
        same function are one node (``name_of_user × 50``), so the tree of calls stays but a
        fan-out is one node; ``"functions"``: one node per function, one box per batch kind and
        round. ``"auto"`` picks the most detailed one whose picture fits in ``max_points``
        (points, 1/72 inch) both ways, drawn top to bottom or, when that is too wide, left to
        right; tasks only up to ``max_tasks`` tasks; functions when nothing else fits."""
        if detail not in ("auto", "tasks", "calls", "functions"):
            raise ValueError(
                f"detail must be 'auto', 'tasks', 'calls' or 'functions', got {detail!r}"
            )
        layout = _Layout(self)
        if detail == "auto":
            detail, rankdir = layout.choose(max_tasks, max_points)
        else:
            rankdir = layout.direction(detail, max_points)
        if detail == "tasks":
            return _dot_tasks(self, rankdir)
        if detail == "calls":
            return _dot_groups(self, layout.call_groups(), "c", rankdir)
        return _dot_groups(self, layout.function_groups(), "f", rankdir)

    def write_dot(
        self,
        path: str,
        detail: str = "auto",
        max_tasks: int = 60,
        max_points: int = MAX_PICTURE_POINTS,
    ) -> str:
        """Write ``to_dot()`` to ``path``; returns the path."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_dot(detail, max_tasks, max_points))
        return path

    def write_svg(
        self,
        path: str,
        detail: str = "auto",
        max_tasks: int = 60,
        max_points: int = MAX_PICTURE_POINTS,
    ) -> str:
        """Render the graph to SVG with Graphviz ``dot`` (which must be installed)."""
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError(
                "Graphviz `dot` is not installed (Debian: apt-get install graphviz); "
                "write_dot() still works"
            )
        subprocess.run(
            [dot, "-Tsvg", "-o", path],
            input=self.to_dot(detail, max_tasks, max_points).encode("utf-8"),
            check=True,
            capture_output=True,
        )
        return path

    def __repr__(self) -> str:
        state = "recording" if self.active else "stopped"
        return (
            f"<Trace {state}: {len(self.tasks)} task(s), {len(self.rounds)} round(s), "
            f"{len(self.batches)} batch(es)>"
        )


def trace() -> Trace:
    """A new trace of the calling thread's scheduler: ``with asynq.trace() as t: ...``."""
    return Trace()


def dot_available() -> bool:
    """Whether Graphviz ``dot`` is on the PATH (needed for SVG)."""
    return shutil.which("dot") is not None


def write_trace_files(trace: Trace, out_dir: str, name: str = "trace") -> list[str]:
    """Write ``trace`` into ``out_dir`` (created if missing): ``<name>.json`` (Chrome trace
    events), ``<name>.dot`` and, when Graphviz is installed, ``<name>.svg``. Returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, name)
    paths = [trace.write_chrome(base + ".json"), trace.write_dot(base + ".dot")]
    if dot_available():
        paths.append(trace.write_svg(base + ".svg"))
    return paths


# -- helpers -------------------------------------------------------------------------------------------


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


def _error_repr(error: BaseException) -> str:
    return futures._short_repr(error, 120)


def _key_sample(items: list[Any]) -> list[str]:
    out: list[str] = []
    for item in islice(items, KEY_SAMPLE):
        key = getattr(item, "key", None)
        if key is None:
            keys = getattr(item, "keys", None)
            if keys is None or callable(keys):
                continue
            out.extend(futures._short_repr(k, 60) for k in keys)
        else:
            out.append(futures._short_repr(key, 60))
    return out[:KEY_SAMPLE]


def _complete(
    name: str, cat: str, start: float, end: float, pid: int, tid: int, args: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "ts": round(start * 1e6, 3),
        "dur": round(max(end - start, 0.0) * 1e6, 3),
        "pid": pid,
        "tid": tid,
        "args": args,
    }


def _lanes(intervals: list[tuple[float, float]]) -> list[int]:
    """Assign each interval a lane (numbered from 1) so that intervals in one lane never
    overlap; as few lanes as possible."""
    lanes = [0] * len(intervals)
    free: list[tuple[float, int]] = []  # (end of the lane's last interval, lane)
    count = 0
    for index in sorted(range(len(intervals)), key=lambda i: intervals[i]):
        start, end = intervals[index]
        if free and free[0][0] <= start:
            _, lane = heapq.heappop(free)
        else:
            count += 1
            lane = count
        lanes[index] = lane
        heapq.heappush(free, (end, lane))
    return lanes


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    return html.escape(text, quote=True)


# (task id -> node number, node number -> (tooltip, label)): how _dot_groups draws tasks.
_Groups = tuple[dict[int, int], dict[int, tuple[str, str]]]

# What Graphviz makes of this module's nodes (Helvetica 10 pt), in points: per character of a
# label, an ellipse's margins, a line of text, and the gaps between nodes and between ranks.
_CHAR, _MARGIN, _LINE, _NODE_GAP, _RANK_GAP = 6.5, 24.0, 13.0, 18.0, 32.0


class _Layout:
    """Estimates how large each level of detail draws, to pick one that fits.

    Graphviz puts each task one rank below its creator, and a batch one rank below the deepest
    task that waits on it; a rank is a row (top to bottom) or a column (left to right). The
    estimate sums the nodes' label sizes along the widest rank; it errs on the large side."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        depth: dict[int, int] = {}
        for t in trace.tasks:  # a creator is recorded before the tasks it creates
            depth[t.id] = depth.get(t.creator, -1) + 1 if t.creator is not None else 0
        self.depth = depth
        self._groups: dict[str, _Groups] = {}

    # -- groups of tasks -----------------------------------------------------------------------

    def function_groups(self) -> _Groups:
        """One node per function."""
        found = self._groups.get("functions")
        if found is None:
            keys: dict[str, int] = {}
            node_of_task: dict[int, int] = {}
            for t in self.trace.tasks:
                node_of_task[t.id] = keys.setdefault(f"{t.module}.{t.name}", len(keys) + 1)
            counts = _counts(node_of_task)
            labels = {
                node: (key, f"{key.rsplit('.', 1)[-1]}\n× {counts[node]}")
                for key, node in keys.items()
            }
            found = self._groups["functions"] = (node_of_task, labels)
        return found

    def call_groups(self) -> _Groups:
        """One node per task that created others; the tasks one task created for the same
        function, and that created none themselves, share one node (a fan-out)."""
        found = self._groups.get("calls")
        if found is None:
            tasks = self.trace.tasks
            creators = {t.creator for t in tasks if t.creator is not None}
            keys: dict[tuple[Any, ...], int] = {}
            node_of_task: dict[int, int] = {}
            first: dict[int, TaskTrace] = {}
            for t in tasks:
                if t.id in creators:
                    key: tuple[Any, ...] = ("task", t.id)
                else:
                    parent = node_of_task.get(t.creator) if t.creator is not None else None
                    key = ("calls", parent, t.module, t.name)
                node = keys.setdefault(key, len(keys) + 1)
                node_of_task[t.id] = node
                first.setdefault(node, t)
            counts = _counts(node_of_task)
            labels = {}
            for node, t in first.items():
                if counts[node] == 1:
                    labels[node] = (f"{t.module}.{t.label}", _shorten(t.label, 48))
                else:
                    labels[node] = (f"{t.module}.{t.name}", f"{t.name}\n× {counts[node]}")
            found = self._groups["calls"] = (node_of_task, labels)
        return found

    # -- sizes ---------------------------------------------------------------------------------

    def choose(self, max_tasks: int, max_points: int) -> tuple[str, str]:
        """The most detailed (detail, rankdir) whose picture fits in ``max_points`` each way."""
        for detail in ("tasks", "calls"):
            if detail == "tasks" and len(self.trace.tasks) > max_tasks:
                continue
            for rankdir in ("TB", "LR"):
                width, height = self.size(detail, rankdir)
                if width <= max_points and height <= max_points:
                    return detail, rankdir
        return "functions", self.direction("functions", max_points)

    def direction(self, detail: str, max_points: int) -> str:
        """Top to bottom, unless that is wider than ``max_points`` and left to right is smaller."""
        width, height = self.size(detail, "TB")
        if width <= max_points:
            return "TB"
        across, down = self.size(detail, "LR")
        return "LR" if max(across, down) < max(width, height) else "TB"

    def size(self, detail: str, rankdir: str) -> tuple[float, float]:
        """The estimated (width, height) in points of the picture."""
        ranks = self._ranks(detail)
        along = [sum(w for w, _ in r) + _NODE_GAP * (len(r) - 1) for r in ranks]  # TB: a row
        thick = [max(h for _, h in r) for r in ranks]
        if rankdir == "TB":
            return max(along, default=0.0), sum(thick) + _RANK_GAP * (len(ranks) - 1)
        columns = [sum(h for _, h in r) + _NODE_GAP * (len(r) - 1) for r in ranks]
        widest = [max(w for w, _ in r) for r in ranks]
        return sum(widest) + _RANK_GAP * (len(ranks) - 1), max(columns, default=0.0)

    def _ranks(self, detail: str) -> list[list[tuple[float, float]]]:
        trace = self.trace
        if detail == "tasks":
            node_of_task = {t.id: t.id for t in trace.tasks}
            labels = {t.id: _shorten(t.label, 48) for t in trace.tasks}
            batch_key: dict[int, Any] = {b.id: b.id for b in trace.batches}
        else:
            groups = self.call_groups() if detail == "calls" else self.function_groups()
            node_of_task = groups[0]
            labels = {node: label for node, (_, label) in groups[1].items()}
            batch_key = {b.id: (b.round, b.kind) for b in trace.batches}
        rank_of: dict[Any, int] = {}
        for t in trace.tasks:
            node = node_of_task[t.id]
            rank_of[node] = min(rank_of.get(node, 1 << 30), self.depth[t.id])
        batch_rank: dict[Any, int] = {}
        batch_label: dict[Any, str] = {}
        for t in trace.tasks:
            for kind, target in t.waits_on:
                if kind == "batch":
                    key = batch_key[target]
                    batch_rank[key] = max(batch_rank.get(key, 0), self.depth[t.id] + 1)
        for b in trace.batches:
            key = batch_key[b.id]
            sample = ", ".join(islice(b.key_sample, 4))
            batch_label[key] = max(b.kind, sample[:60], key=len)
        ranks: dict[int, list[tuple[float, float]]] = {}
        for node, rank in rank_of.items():
            ranks.setdefault(rank, []).append(_node_size(labels[node]))
        for key, rank in batch_rank.items():
            width, _ = _node_size(batch_label[key])
            ranks.setdefault(rank, []).append((width, 3 * _LINE + 14))
        return [ranks[r] for r in sorted(ranks)]


def _node_size(label: str) -> tuple[float, float]:
    lines = label.split("\n")
    return max(len(line) for line in lines) * _CHAR + _MARGIN, max(36.0, len(lines) * _LINE + 12)


def _counts(node_of_task: dict[int, int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for node in node_of_task.values():
        counts[node] = counts.get(node, 0) + 1
    return counts


def _dot_head(trace: Trace, rankdir: str = "TB") -> list[str]:
    flushed = sum(1 for b in trace.batches if b.round is not None)
    title = (
        f"{_plural(len(trace.tasks), 'task')} · {_plural(len(trace.rounds), 'round')} · "
        f"{_plural(flushed, 'batch flush', 'batch flushes')}"
    )
    return [
        "digraph asynq {",
        f'  graph [rankdir={rankdir}, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.45, '
        f"newrank=true, ordering=out, label={_quote(title)}, labelloc=t];",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [color="#555555", arrowsize=0.6];',
    ]


def _batch_label(kind: str, items: int, keys: int | None, sample: Iterable[str]) -> str:
    lines = [f"<B>{_html(kind)}</B>"]
    detail = _plural(items, "item")
    if keys is not None and keys != items:
        detail += f", {_plural(keys, 'distinct key')}"
    lines.append(_html(detail))
    shown = list(islice(sample, 4))
    if shown:
        lines.append(
            f'<FONT POINT-SIZE="9">{_html(", ".join(shown))}{", …" if items > 4 else ""}</FONT>'
        )
    return "<" + "<BR/>".join(lines) + ">"


def _round_cluster(index: int, body: list[str], seconds: float) -> list[str]:
    return [
        f"  subgraph cluster_round_{index} {{",
        f'    label="round {index} ({seconds * 1000:.2f} ms)"; labeljust=l; style="rounded,filled"; '
        'fillcolor="#f3f6fb"; color="#9aa9c2"; fontsize=10;',
        *body,
        "  }",
    ]


def _dot_tasks(trace: Trace, rankdir: str = "TB") -> str:
    lines = _dot_head(trace, rankdir)
    for t in trace.tasks:
        style = 'style=filled, fillcolor="#ffffff"'
        if t.error is not None:
            style = 'style=filled, fillcolor="#f8d7da", color="#b02a37"'
        elif t.end is None:
            style = 'style="filled,dashed", fillcolor="#fff3cd"'
        tooltip = f"{t.module}.{t.label}"
        if t.error:
            tooltip += f"\nraised {t.error}"
        lines.append(
            f"  t{t.id} [label={_quote(_shorten(t.label, 48))}, shape=ellipse, {style}, "
            f"tooltip={_quote(tooltip)}];"
        )
    flushed: dict[int, list[BatchTrace]] = {}
    for b in trace.batches:
        node = (
            f'b{b.id} [shape=box, style=filled, fillcolor="#dbe7f6", color="#4a6a94", '
            f"label={_batch_label(b.kind, b.items, b.keys, b.key_sample)}];"
        )
        if b.round is None:
            lines.append("  " + node)
        else:
            flushed.setdefault(b.round, []).append(b)
    for round_ in trace.rounds:
        body = [
            f'    b{b.id} [shape=box, style=filled, fillcolor="#dbe7f6", color="#4a6a94", '
            f"label={_batch_label(b.kind, b.items, b.keys, b.key_sample)}];"
            for b in flushed.get(round_.index, [])
        ]
        if body:
            lines += _round_cluster(round_.index, body, round_.end - round_.start)
    for t in trace.tasks:
        seen = set()
        for kind, target in t.waits_on:
            if (kind, target) in seen:
                continue
            seen.add((kind, target))
            lines.append(f"  t{t.id} -> {kind[0]}{target};")
        if t.sync_call_in is not None:
            lines.append(
                f'  t{t.sync_call_in} -> t{t.id} [style=dashed, color="#b02a37", '
                'fontcolor="#b02a37", label="sync call", fontsize=9];'
            )
        elif t.creator is not None and not _waited_on(trace, t.id):
            lines.append(f'  t{t.creator} -> t{t.id} [style=dotted, color="#999999"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _waited_on(trace: Trace, task_id: int) -> bool:
    cache: set[int] | None = getattr(trace, "_waited_cache", None)
    if cache is None:
        cache = {i for t in trace.tasks for kind, i in t.waits_on if kind == "task"}
        trace._waited_cache = cache  # type: ignore[attr-defined]
    return task_id in cache


def _dot_groups(trace: Trace, groups_of: _Groups, prefix: str, rankdir: str = "TB") -> str:
    """The graph with one node per group of tasks (``_Layout`` makes the groups)."""
    lines = _dot_head(trace, rankdir)
    node_of_task, labels = groups_of
    calls: dict[int, int] = {}
    errors: dict[int, int] = {}
    for t in trace.tasks:
        node = node_of_task[t.id]
        calls[node] = calls.get(node, 0) + 1
        if t.error is not None:
            errors[node] = errors.get(node, 0) + 1
    for node, (key, label) in labels.items():
        style = 'style=filled, fillcolor="#ffffff"'
        if node in errors:
            label += f"\n{errors[node]} raised"
            style = 'style=filled, fillcolor="#f8d7da", color="#b02a37"'
        lines.append(
            f"  {prefix}{node} [label={_quote(label)}, shape=ellipse, {style}, "
            f"tooltip={_quote(key)}];"
        )
    groups: dict[tuple[int | None, str], list[BatchTrace]] = {}
    for b in trace.batches:
        groups.setdefault((b.round, b.kind), []).append(b)
    group_ids = {group: index for index, group in enumerate(groups, 1)}

    def group_node(group: tuple[int | None, str]) -> str:
        batches = groups[group]
        kind = group[1] if len(batches) == 1 else f"{group[1]} × {len(batches)}"
        keys = [b.keys for b in batches if b.keys is not None]
        sample = [k for b in batches for k in b.key_sample]
        label = _batch_label(
            kind, sum(b.items for b in batches), sum(keys) if keys else None, sample
        )
        return (
            f'g{group_ids[group]} [shape=box, style=filled, fillcolor="#dbe7f6", '
            f'color="#4a6a94", label={label}];'
        )

    for group in groups:
        if group[0] is None:
            lines.append("  " + group_node(group))
    for round_ in trace.rounds:
        body = ["    " + group_node(g) for g in groups if g[0] == round_.index]
        if body:
            lines += _round_cluster(round_.index, body, round_.end - round_.start)
    batch_group = {b.id: group_ids[(b.round, b.kind)] for b in trace.batches}
    # Each edge counts the task-level edges it stands for: calls waited on, or tasks that
    # waited on a batch of that kind and round.
    edges: dict[tuple[str, str, str], int] = {}
    for t in trace.tasks:
        source = f"{prefix}{node_of_task[t.id]}"
        for kind, target in dict.fromkeys(t.waits_on):
            if kind == "task":
                edge = (source, f"{prefix}{node_of_task[target]}", "")
            else:
                edge = (source, f"g{batch_group[target]}", "")
            edges[edge] = edges.get(edge, 0) + 1
        if t.sync_call_in is not None:
            edge = (f"{prefix}{node_of_task[t.sync_call_in]}", source, "sync")
            edges[edge] = edges.get(edge, 0) + 1
    for (source, head, style), count in edges.items():
        label = "× " + str(count) if count > 1 else ""
        attrs: list[str] = []
        if style == "sync":
            label = "sync call " + label
            attrs = ["style=dashed", 'color="#b02a37"', 'fontcolor="#b02a37"']
        if label:
            attrs += [f"label={_quote(label.strip())}", "fontsize=9"]
        lines.append(f"  {source} -> {head}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- ASYNQ_TRACE ---------------------------------------------------------------------------------------

_env_trace: Trace | None = None


def _start_env_trace() -> None:
    global _env_trace
    out_dir = os.environ.get(TRACE_ENV)
    if not out_dir or _env_trace is not None:
        return
    _env_trace = trace().start()

    def write() -> None:
        if _env_trace is not None and _env_trace.active:
            _env_trace.stop()
            write_trace_files(_env_trace, out_dir)

    atexit.register(write)


_start_env_trace()

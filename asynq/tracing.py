"""Trace recorder: what ran, what waited on what, and what each round flushed.

    with asynq.trace() as t:
        render_page(uid)
    print(t.summary())
    asynq.tracing.write_trace_files(t, "out/")   # out/trace.json, out/trace.dot, out/trace.svg

A trace records, on the calling thread, every task that runs inside the block (function, arguments,
the task that created it, when it started and finished, each step it ran), what each task waited
on when it blocked (other tasks, batches), and every round of flushes with its batches (kind,
items, distinct keys, a sample of the keys, time). ``asynq.trace_export`` turns a stopped trace
into Chrome trace-event JSON (``to_chrome``/``write_chrome``, for Perfetto or
``chrome://tracing``) and into the dependency graph in Graphviz DOT and SVG (``to_dot``,
``write_dot``, ``write_svg``); the ``Trace`` methods of the same names call it.

Setting the environment variable ``ASYNQ_TRACE`` to a directory traces the thread that imports
asynq until the program exits, then writes the files there (``asynq.trace_env``).

How it stays free when off: a trace is an instrument (``asynq.instruments``), installed on the
thread's scheduler while it records and removed when it stops. Start a trace outside asynq
functions: a scheduler loop that is already running keeps the loop it started with.
"""

from __future__ import annotations

import threading
from itertools import islice
from time import perf_counter
from types import TracebackType
from typing import Any

from . import trace_export
from .async_task import AsyncTask
from .batching import BatchBase, BatchItemBase
from .futures import short_repr
from .instruments import Instrument, futures_in
from .scheduler import TaskScheduler, get_scheduler
from .stats import SchedulerStats, distinct_keys, get_stats
from .trace_export import MAX_PICTURE_POINTS, dot_available, write_trace_files

__all__ = [
    "Trace",
    "TaskTrace",
    "BatchTrace",
    "RoundTrace",
    "trace",
    "write_trace_files",
    "dot_available",
    "TRACE_ENV",
    "MAX_PICTURE_POINTS",
]

#: Environment variable: trace the importing thread and write the files into this directory.
TRACE_ENV = "ASYNQ_TRACE"
#: How many keys of each batch a trace keeps (as reprs).
KEY_SAMPLE = 20


# What a trace records a wait on, by class of the awaited future (filled in as classes are met).
# _NESTED: a container, whose futures are walked.
_TASK, _ITEM, _BATCH, _OTHER, _NESTED = range(5)
_kinds: dict[type, int] = {list: _NESTED, tuple: _NESTED, dict: _NESTED}


def _kind_of(cls: type) -> int:
    if issubclass(cls, AsyncTask):
        kind = _TASK
    elif issubclass(cls, BatchItemBase):
        kind = _ITEM
    elif issubclass(cls, BatchBase):
        kind = _BATCH
    else:
        kind = _OTHER
    _kinds[cls] = kind
    return kind


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
            parts = [short_repr(a, 40) for a in self._args]
            parts += [f"{k}={short_repr(v, 40)}" for k, v in self._kwargs.items()]
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



class Trace(Instrument):
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
        scheduler = get_scheduler()
        scheduler.add_instrument(self)
        self._scheduler = scheduler
        return self

    def stop(self) -> Trace:
        """Stop recording and let go of the tasks and batches (only the records stay)."""
        scheduler = self._scheduler
        if scheduler is None:
            return self
        end = perf_counter()
        scheduler.remove_instrument(self)
        self._scheduler = None
        if self._stats_before is not None:
            self.stats = scheduler.stats.since(self._stats_before)
        t0 = self._t0
        self.duration = end - t0
        for task, record in self._by_task.items():
            if record.start is not None:
                record.start -= t0
            # Errors are read here, once per task, rather than at each step.
            if record.end is not None:  # it finished in a step
                record.end -= t0
                error = task.error()
            elif task.is_computed():  # it finished outside the steps the trace saw
                error = task.error()
            else:
                continue
            if error is not None:
                record.error = _error_repr(error)
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

    # -- instrument hooks --------------------------------------------------------------------

    def after_task_step(self, task: AsyncTask[Any], start: float, end: float, own: float) -> None:
        """Record the step, and the task's end or what it now waits on."""
        record = self._by_task.get(task)
        if record is None:
            record = self._task_record(task)
        if record.start is None:
            record.start = start
            outer = self._scheduler.active_task if self._scheduler is not None else None
            if outer is not None and task.creator is outer:
                record.sync_call_in = self._task_record(outer).id
        log = self._step_log
        log.append(record)
        log.append(start)
        log.append(end)
        record.run_seconds += own
        yielded: Any = task.blocked_on
        if yielded is None:
            # Finished (its error is read when the trace stops).
            record.end = end
            return
        waits = self._wait_log
        kind = _kinds.get(type(yielded))
        if kind is None:
            kind = _kind_of(type(yielded))
        if kind == _TASK:
            waits.append(record)
            waits.append(self._by_task.get(yielded) or self._task_record(yielded))
        elif kind == _ITEM:
            waits.append(record)
            waits.append(self._batch_record(yielded.batch))
        else:
            cls = type(yielded)
            # A flat list or tuple (a fan-out) is read as it is; anything nested is walked.
            self._record_waits(record, yielded if cls is list or cls is tuple else futures_in(yielded))

    def _record_waits(self, record: TaskTrace, leaves: Any) -> None:
        """Record waits on ``leaves``: the items of a yielded list or tuple, or the futures of a
        nested container (a container among them is walked)."""
        waits = self._wait_log
        for leaf in leaves:
            kind = _kinds.get(type(leaf))
            if kind is None:
                kind = _kind_of(type(leaf))
            if kind == _TASK:
                waits.append(record)
                waits.append(self._by_task.get(leaf) or self._task_record(leaf))
            elif kind == _ITEM:
                waits.append(record)
                waits.append(self._batch_record(leaf.batch))
            elif kind == _BATCH:
                waits.append(record)
                waits.append(self._batch_record(leaf))
            elif kind == _NESTED:
                self._record_waits(record, futures_in(leaf))

    def before_round(self) -> None:
        """Open a round record."""
        self._open_rounds.append(RoundTrace(len(self.rounds) + 1, perf_counter()))
        self.rounds.append(self._open_rounds[-1])

    def after_round(self) -> None:
        """Close the round record."""
        if self._open_rounds:
            self._open_rounds.pop().end = perf_counter()

    def before_batch_flush(self, batch: BatchBase[Any]) -> None:
        """Record the batch's items (before the flush: some batches let go of items)."""
        record = self._batch_record(batch)
        items = batch.items
        record.items = len(items)
        record.keys = distinct_keys(items)
        record.key_sample = _key_sample(items)
        record.start = perf_counter()
        if self._open_rounds:
            current = self._open_rounds[-1]
            record.round = current.index
            current.batches.append(record.id)

    def after_batch_flush(self, batch: BatchBase[Any], items: list[Any], seconds: float) -> None:
        """Note when the flush ended."""
        self._batch_record(batch).end = perf_counter()

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


    # -- export (``asynq.trace_export``) -------------------------------------------------------

    def to_chrome(self) -> dict[str, Any]:
        """The trace as Chrome trace-event JSON data (see ``trace_export.to_chrome``)."""
        return trace_export.to_chrome(self)

    def write_chrome(self, path: str) -> str:
        """Write ``to_chrome()`` as JSON to ``path``; returns the path."""
        return trace_export.write_chrome(self, path)

    def to_dot(
        self, detail: str = "auto", max_tasks: int = 60, max_points: int = MAX_PICTURE_POINTS
    ) -> str:
        """The dependency graph in Graphviz DOT (see ``trace_export.to_dot``)."""
        return trace_export.to_dot(self, detail, max_tasks, max_points)

    def write_dot(
        self,
        path: str,
        detail: str = "auto",
        max_tasks: int = 60,
        max_points: int = MAX_PICTURE_POINTS,
    ) -> str:
        """Write ``to_dot()`` to ``path``; returns the path."""
        return trace_export.write_dot(self, path, detail, max_tasks, max_points)

    def write_svg(
        self,
        path: str,
        detail: str = "auto",
        max_tasks: int = 60,
        max_points: int = MAX_PICTURE_POINTS,
    ) -> str:
        """Render the graph to SVG with Graphviz ``dot`` (which must be installed)."""
        return trace_export.write_svg(self, path, detail, max_tasks, max_points)

    def __repr__(self) -> str:
        state = "recording" if self.active else "stopped"
        return (
            f"<Trace {state}: {len(self.tasks)} task(s), {len(self.rounds)} round(s), "
            f"{len(self.batches)} batch(es)>"
        )


def trace() -> Trace:
    """A new trace of the calling thread's scheduler: ``with asynq.trace() as t: ...``."""
    return Trace()



# -- helpers -------------------------------------------------------------------------------------------


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


def _error_repr(error: BaseException) -> str:
    return short_repr(error, 120)


def _key_sample(items: list[Any]) -> list[str]:
    out: list[str] = []
    for item in islice(items, KEY_SAMPLE):
        key = getattr(item, "key", None)
        if key is None:
            keys = getattr(item, "keys", None)
            if keys is None or callable(keys):
                continue
            out.extend(short_repr(k, 60) for k in keys)
        else:
            out.append(short_repr(key, 60))
    return out[:KEY_SAMPLE]

"""Instruments: code that watches the scheduler through named hooks.

An instrument is an object with some of the hook methods of ``Instrument`` (subclass it and
override the ones you need). ``add_instrument(instrument)`` makes the calling thread's scheduler
call them; ``remove_instrument(instrument)`` stops it. The statistics (``asynq.stats``), traces
(``asynq.tracing``) and the profiler (``asynq.profiler``) are instruments; so can be a metrics
exporter, a logger of slow flushes, or a test that counts rounds.

    class SlowFlushes(asynq.instruments.Instrument):
        def after_batch_flush(self, batch, items, seconds):
            if seconds > 0.05:
                log.warning("%s took %.0f ms for %d items", batch, seconds * 1000, len(items))

    asynq.instruments.add_instrument(SlowFlushes())

Hooks run on the scheduler's thread, in the order instruments were added. Round and flush hooks
cost one check per round when no instrument is installed. Task step hooks are paid for only
while an instrument that defines them is installed: the scheduler then switches to a variant of
its loop that times each task step and runs it through the hooks (and no longer runs a task's
successor in the same call, so that every step is seen); it switches back when the last such
instrument goes. The scheduler times steps once for all instruments and hands the times to
``after_task_step``, so an instrument that wants a step's duration needs no
``before_task_step`` (whose call each step then saves).
Add instruments outside asynq functions: a scheduler loop that is already running keeps the
loop it started with.

A hook must not raise: an error escapes the scheduler, which then drops its ready tasks and
pending batches (as after any error of the scheduler itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .futures import FutureBase

if TYPE_CHECKING:
    from .async_task import AsyncTask
    from .batching import BatchBase
    from .scheduler import TaskScheduler

__all__ = [
    "Instrument",
    "HOOKS",
    "add_instrument",
    "remove_instrument",
    "current_instruments",
    "current_scheduler",
    "futures_in",
]

#: The hook names the scheduler calls (an instrument defines any subset of them).
HOOKS = (
    "before_task_step",
    "after_task_step",
    "before_round",
    "after_round",
    "before_batch_flush",
    "after_batch_flush",
)


class Instrument:
    """Base class of instruments; every hook does nothing. Override the ones you need: the
    scheduler calls only hooks that a subclass defines."""

    __slots__ = ()

    def before_task_step(self, task: AsyncTask[Any]) -> None:
        """``task`` is about to run one step: from its start or from the ``yield`` it was blocked
        on, until it blocks again or finishes."""

    def after_task_step(self, task: AsyncTask[Any], start: float, end: float, own: float) -> None:
        """``task`` ran one step, timed by the scheduler: from ``start`` to ``end``
        (``time.perf_counter()`` values); ``own`` is the seconds of that span the task's own code
        ran, without the steps and rounds nested inside it (synchronous calls it made). The task
        is now finished, or blocked on ``task.blocked_on``: a task blocked on nothing has
        finished. (A step cut short by an error of the scheduler itself is not reported.)"""

    def before_round(self) -> None:
        """No task can make progress: a round of batch flushes begins."""

    def after_round(self) -> None:
        """The round that began last has flushed its batches."""

    def before_batch_flush(self, batch: BatchBase[Any]) -> None:
        """``batch.flush()`` is about to be called (inside a round)."""

    def after_batch_flush(self, batch: BatchBase[Any], items: list[Any], seconds: float) -> None:
        """``batch.flush()`` returned after ``seconds``; ``items`` is ``batch.items`` as it was
        before the flush (a batch may let go of items while it flushes)."""


def futures_in(yielded: Any) -> list[FutureBase[Any]]:
    """The futures in a yielded value (such as ``task.blocked_on``), containers walked, in
    order."""
    cls = type(yielded)
    if cls is list or cls is tuple or cls is dict:
        out: list[FutureBase[Any]] = []
        _collect(yielded, out)
        return out
    # A single future, the most common yield: no walk.
    return [yielded] if isinstance(yielded, FutureBase) else []


def _collect(container: Any, out: list[FutureBase[Any]]) -> None:
    """Append the futures in ``container`` (an exact list, tuple or dict) to ``out``; a call
    per nested container, not per element."""
    for item in container.values() if type(container) is dict else container:
        cls = type(item)
        if cls is list or cls is tuple or cls is dict:
            _collect(item, out)
        elif isinstance(item, FutureBase):
            out.append(item)


def _defined_hooks(instrument: object) -> list[str]:
    """The hooks ``instrument`` defines (those it inherits from ``Instrument`` do nothing)."""
    cls = type(instrument)
    return [
        name
        for name in HOOKS
        if callable(getattr(instrument, name, None))
        and getattr(cls, name, None) is not getattr(Instrument, name)
    ]


def add_instrument(instrument: object) -> None:
    """Install ``instrument`` on the calling thread's scheduler (nothing happens if it is
    already installed there). See ``TaskScheduler.add_instrument``."""
    current_scheduler().add_instrument(instrument)


def remove_instrument(instrument: object) -> None:
    """Uninstall ``instrument`` from the calling thread's scheduler; ``KeyError`` if it was not
    installed there. See ``TaskScheduler.remove_instrument``."""
    current_scheduler().remove_instrument(instrument)


def current_instruments() -> tuple[object, ...]:
    """The instruments installed on the calling thread's scheduler, in the order added."""
    return current_scheduler().instruments


def current_scheduler() -> TaskScheduler:
    """The calling thread's scheduler (``asynq.get_scheduler()``), for modules that the
    scheduler itself depends on and so cannot import ``asynq.scheduler``."""
    scheduler: TaskScheduler = _thread_state.scheduler
    return scheduler


# The per-thread state of scheduler.py (``.scheduler``), set when that module loads: this module
# is imported by the scheduler, so it cannot import it.
_thread_state: Any = None

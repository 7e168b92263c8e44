"""The scheduler: the small kernel that runs asynq tasks and decides when batches flush.

What a task may yield
    A task is a generator. Each ``yield`` hands the scheduler a *yieldable*: ``None``, a future
    (a task, a batch item, a batch, any ``FutureBase``), or an exact ``list``, ``tuple`` or
    ``dict`` of yieldables, nested to any depth. The generator is resumed with a value of the same
    shape: futures replaced by their values. The set is closed on purpose. Anything else (a
    coroutine, a function, a set, a generator, a subclass of list...) is a mistake, and the
    scheduler throws a ``TypeError`` into the generator at that ``yield``, naming what was yielded
    and the likely fix; only a yield adapter (``add_yield_adapter``; the asyncio bridge accepts
    awaitables in asyncio mode) may first turn such a yield into futures. If a yielded future failed, its error is thrown at the ``yield`` instead;
    the task waits for all the futures of one yield first, so siblings always complete.

When batches flush
    Only when nothing else can happen. The scheduler keeps running tasks that can make progress;
    a task blocked on a batch item adds the item's batch to the pending list. When the ready queue
    is empty, every pending batch flushes in the same *round*: first ``_start_flush()`` on each (a
    batch may send its request and read the answer later), then ``flush()`` on each. So the number
    of rounds is the longest chain of batch items along any dependency path, never the number of
    keys, and independent batches of one round overlap instead of adding up.

Invariants
    - Laziness: a task runs only once something yields it or asks for its value.
    - Once: every future is computed exactly once; every task's generator is driven by one loop.
    - No recursion proportional to the depth of the graph: waking a task puts it on the ready queue
      (or hands it to the loop that is already running), it never calls it. A chain of 100,000
      dependent tasks runs in constant Python stack.
    - Errors stay where they belong: a task's failure becomes that task's error, a flush's failure
      that batch's items' errors. After an error escapes the scheduler itself (a hook raised, a
      dependency cycle), the ready queue and pending batches are cleared, so the next call starts
      clean.
    - One scheduler per thread; tasks and batches never cross threads.
    - A synchronous ``f(x)`` inside a running task re-enters this scheduler (``wait_for`` nests).
      It is legal, but what it reads is not batched with the caller's siblings; it is counted in
      ``stats.impure_calls`` and logged under ``debug.options.DUMP_SYNC_CALLS``. Other ready
      tasks run meanwhile, except those held (``hold``): a held task, and what it created, waits
      aside until ``release``, unless nothing else could go on.

Scheduling order is not part of the contract. What the scheduler does today: new tasks run first,
in yield order (depth first, so a wide tree keeps few unfinished tasks alive); a parent woken by
its last child runs next (so finished children are freed at once); tasks woken by a flush run in
the order of the batch's items. ``TaskScheduler.shuffle(seed)`` picks ready tasks and orders the
batches of a round at random (seeded), so that tests can check that results and round counts do
not depend on any of this.

Watching it
    Statistics, traces and the profiler are instruments (``asynq.instruments``): objects whose
    hooks the scheduler calls around task steps, rounds and batch flushes. The statistics are
    the one every scheduler has (``stats``). Round and flush hooks cost one check per round when
    none is installed; for task step hooks the scheduler switches its own class to a variant
    whose ``_run`` calls them, and back when the last such instrument goes.

Everything else (caching, deduplication, memcache, tools, tracing) lives outside this module.
"""

from __future__ import annotations

import random
import threading
import time
import types
from collections import deque
from collections.abc import Callable
from time import perf_counter
from types import TracebackType
from typing import Any

from qcore.events import EventHook

from . import async_task, futures, instruments
from ._debug import options
from .async_task import NEW, STARTED, AsyncTask, AsyncTaskResult
from .batching import BatchBase, BatchItemBase
from .contexts import NonAsyncContext, NonAsyncContextError
from .futures import ConstFuture, ErrorFuture, Future, FutureBase, _wake
from .stats import SchedulerStats

__all__ = [
    "AsyncTaskError",
    "AsyncqInternalError",
    "TaskScheduler",
    "get_scheduler",
    "get_active_task",
    "reset",
    "add_yield_adapter",
    "remove_yield_adapter",
]


class AsyncTaskError(Exception):
    """A future can never be computed (a dependency cycle, or nothing left that could set it)."""


class AsyncqInternalError(RuntimeError):
    """An invariant of the scheduler broke: a bug in asynq, please report it."""


# Kinds of yielded leaves, cached per class: one dict lookup classifies an element.
# _DONE: futures born computed (ErrorFuture), which a yielded list just reads. _CONST: exactly
# ConstFuture, which always holds a value and no error (written to, it changes class).
_TASK, _ITEM, _BATCH, _PROVIDED, _OTHER, _NOT_A_FUTURE, _DONE, _CONST = range(8)
_kinds: dict[type, int] = {}


def _kind_of(cls: type) -> int:
    if cls is ConstFuture:
        kind = _CONST
    elif cls is ErrorFuture:
        kind = _DONE
    elif issubclass(cls, AsyncTask):
        kind = _TASK
    elif issubclass(cls, BatchItemBase):
        kind = _ITEM
    elif issubclass(cls, BatchBase):
        kind = _BATCH
    elif issubclass(cls, Future):
        kind = _PROVIDED
    elif issubclass(cls, FutureBase):
        kind = _OTHER
    else:
        kind = _NOT_A_FUTURE
    _kinds[cls] = kind
    return kind


class _NotYieldable(TypeError):
    """``value`` (inside ``container``, or None) cannot be yielded; the scheduler turns it into
    a TypeError with the full explanation unless a yield adapter makes the yield valid."""

    def __init__(self, value: object, container: object) -> None:
        super().__init__(value, container)
        self.value = value
        self.container = container


#: Functions that get a yielded value the scheduler would reject and return a valid yieldable to
#: use instead, or None. See ``add_yield_adapter``.
_yield_adapters: list[Callable[[Any], Any]] = []


def add_yield_adapter(adapter: Callable[[Any], Any]) -> None:
    """Let ``adapter(yielded)`` rescue a yield the scheduler would reject: it returns a
    replacement of the same shape made of yieldables, or None to leave the rejection as it is.
    The asyncio bridge uses this to accept awaitables in asyncio mode. Never on a fast path:
    only yields that would otherwise fail reach an adapter."""
    if adapter not in _yield_adapters:
        _yield_adapters.append(adapter)


def remove_yield_adapter(adapter: Callable[[Any], Any]) -> None:
    """Undo ``add_yield_adapter(adapter)`` (nothing happens if it was not added)."""
    if adapter in _yield_adapters:
        _yield_adapters.remove(adapter)


def _adapt(yielded: Any) -> Any:
    for adapter in _yield_adapters:
        adapted = adapter(yielded)
        if adapted is not None:
            return adapted
    return None


class _Throw(Exception):
    """Carries an error to throw into a task at its ``yield``, with the traceback to throw it
    with (never escapes this module)."""

    def __init__(self, error: BaseException, traceback: TracebackType | None) -> None:
        self.error = error
        self.traceback = traceback


def _resolve(yielded: Any) -> Any:
    """The value to send back for ``yielded``, every future computed: same shape, values in.
    Raises ``_Throw`` with the first failed future's error."""
    cls = type(yielded)
    if cls is list or cls is tuple:
        out: list[Any] = []
        for item in yielded:
            if item is None:
                out.append(None)
            elif type(item) in _CONTAINERS:
                out.append(_resolve(item))
            else:
                if item._error is not None:
                    raise _Throw(item._error, item._traceback)
                out.append(item._value)
        return out if cls is list else tuple(out)
    if cls is dict:
        return {key: _resolve(value) for key, value in yielded.items()}
    if yielded is None:
        return None
    if yielded._error is not None:
        raise _Throw(yielded._error, yielded._traceback)
    return yielded._value


def _read_values(yielded: Any, shape: int) -> Any:
    """The value to send back for a yield of computed futures, by its shape: ``_LIST`` or
    ``_TUPLE`` (flat, every element a future), ``_ANY``, or ``_VALUES`` (read already). Raises ``_Throw`` with the first
    failed future's error."""
    if shape is _ANY:
        return _resolve(yielded)
    if shape is _VALUES:
        return yielded
    for item in yielded:
        if item._error is not None:
            raise _Throw(item._error, item._traceback)
    values = [item._value for item in yielded]
    return values if shape is _LIST else tuple(values)


_CONTAINERS = (list, tuple, dict)


class TaskScheduler:
    """Runs the tasks of one thread and flushes its batches. Get it with ``get_scheduler()``."""

    #: Whether ``_run`` may go on with the next task itself (see ``_run``). A subclass that must
    #: see every task pass through ``_run`` (tracing, the profiler) sets it to False.
    _hand_off = True

    def __init__(self) -> None:
        self.active_task: AsyncTask[Any] | None = None
        self._ready: deque[AsyncTask[Any]] = deque()
        self._batches: list[BatchBase[Any]] = []
        self._depth = 0
        self._rng: random.Random | None = None
        self.on_before_batch_flush = EventHook()
        self.on_after_batch_flush = EventHook()
        self.stats = SchedulerStats()
        self._instruments: tuple[object, ...] = ()
        # The installed instruments' hooks, bound, one tuple per hook name (see _set_instruments).
        self._before_step: tuple[Callable[..., Any], ...] = ()
        self._after_step: tuple[Callable[..., Any], ...] = ()
        self._before_round: tuple[Callable[..., Any], ...] = ()
        self._after_round: tuple[Callable[..., Any], ...] = ()
        self._before_flush: tuple[Callable[..., Any], ...] = ()
        self._after_flush: tuple[Callable[..., Any], ...] = ()
        # Per running step of the instrumented loop: seconds spent in nested steps and rounds.
        self._step_nested: list[float] = []
        # The holds in force (see ``hold``), outermost first: the tasks held, and the queue
        # where those that became ready wait until the hold ends.
        self._holds: list[tuple[set[AsyncTask[Any]], deque[AsyncTask[Any]]]] = []

    # -- public --------------------------------------------------------------------------------

    def wait_for(self, future: FutureBase[Any]) -> None:
        """Run tasks and flush batches until ``future`` is computed."""
        if not future._computed:
            self._drive(future, False)

    def _drive(self, future: Any, run_now: bool) -> None:
        """Compute ``future``. With ``run_now``, it is a task that was just created (the
        synchronous call ``f(x)``): run it at once, and enter the loop only if it blocked."""
        self._depth += 1
        try:
            if run_now:
                future._state = STARTED
                self.stats.tasks += 1
                self._run(future)
            else:
                self._schedule_root(future)
            if not future._computed:
                self._loop(future)
        except BaseException:
            # Only the outermost call cleans up: a nested one (a synchronous call inside a
            # task) must leave the outer loop's queue and batches alone.
            if self._depth == 1:
                self._clear()
            raise
        finally:
            self._depth -= 1

    def _loop(self, future: FutureBase[Any]) -> None:
        ready = self._ready
        run = self._run
        holds = self._holds
        while not future._computed:
            if ready:
                if self._rng is None and not holds:
                    run(ready.popleft())
                else:
                    self._run_next_special()
            elif self._batches:
                self._flush_round()
            elif holds and self._unhold_all():
                continue  # only held tasks can go on: they do (holding never deadlocks)
            else:
                raise AsyncTaskError(
                    f"{future!r} can never be computed: no task can run and no batch is "
                    "pending. Either tasks wait on each other in a cycle, or the future is "
                    "one that only external code sets (call set_value on it first)"
                )

    def schedule(self, future: FutureBase[Any]) -> None:
        """Make this scheduler responsible for ``future`` without running anything: a new task
        is queued, a batch item's batch becomes pending. For drivers such as the asyncio bridge."""
        if not future._computed:
            self._schedule_root(future)

    def run_ready(self) -> None:
        """Run tasks until none can make progress; flush nothing. For drivers that flush
        batches themselves (``take_batches`` then ``flush_batches``)."""
        ready = self._ready
        holds = self._holds
        self._depth += 1
        try:
            while ready:
                if self._rng is None and not holds:
                    self._run(ready.popleft())
                else:
                    self._run_next_special()
        except BaseException:
            if self._depth == 1:
                self._clear()
            raise
        finally:
            self._depth -= 1

    def take_batches(self) -> list[BatchBase[Any]]:
        """Remove and return the batches that are waiting to flush in this round."""
        batches, self._batches = self._batches, []
        return batches

    def flush_batches(self, batches: list[BatchBase[Any]]) -> None:
        """Flush ``batches`` as one round (hooks, stats, ``_start_flush`` on all first).

        May run on another thread while this scheduler's thread waits: values set on batch items
        wake their tasks on the scheduler they belong to, never on the flushing thread."""
        self._batches, pending = batches, self._batches
        try:
            self._flush_round()
        finally:
            self._batches = pending + self._batches

    def hold(self, tasks: list[AsyncTask[Any]]) -> object:
        """Keep ``tasks``, and the tasks they created (directly or not, except through a task
        that is running now), from running until ``release(hold)``: one that becomes ready
        meanwhile waits aside, so that a synchronous call made meanwhile runs only what it
        needs (what the running tasks create). If nothing but held tasks could go on, they run
        anyway: holding never deadlocks. Returns the hold, for ``release``."""
        hold: tuple[set[AsyncTask[Any]], deque[AsyncTask[Any]]] = (
            {task for task in tasks if not task._computed},
            deque(),
        )
        self._holds.append(hold)
        self._hand_off = False  # every task goes through the loop, which sets held ones aside
        return hold

    def release(self, hold: object) -> None:
        """End a ``hold``: the tasks set aside run (in the order they became ready)."""
        for index, each in enumerate(self._holds):
            if each is hold:
                del self._holds[index]
                self._ready.extend(each[1])
                each[1].clear()
                break
        if not self._holds:
            self.__dict__.pop("_hand_off", None)  # the class's own setting again

    def _run_next_special(self) -> None:
        """Run the next ready task in shuffled order (``shuffle``), or set it aside if it is
        held (``hold``)."""
        ready = self._ready
        if self._rng is not None:
            ready.rotate(-self._rng.randrange(len(ready)))
        task = ready.popleft()
        if not (self._holds and self._set_aside(task)):
            self._run(task)

    def _set_aside(self, task: AsyncTask[Any]) -> bool:
        """While holds are in force: if ``task`` is held (it, or the task that created it, and
        so on up to a running task), queue it aside in the outermost hold that holds it."""
        current: AsyncTask[Any] | None = task
        while current is not None:
            for held, aside in self._holds:
                if current in held:
                    aside.append(task)
                    return True
            if current.running:
                return False
            current = current.creator
        return False

    def _unhold_all(self) -> bool:
        """Nothing else can go on: the holds in force end early (their tasks run)."""
        found = False
        for held, aside in self._holds:
            held.clear()
            if aside:
                found = True
                self._ready.extend(aside)
                aside.clear()
        return found

    def shuffle(self, seed: int | None) -> None:
        """Pick ready tasks and order a round's batches at random from ``seed``; None restores
        first-in, first-out order. Results must not depend on it: this is for tests."""
        self._rng = None if seed is None else random.Random(seed)

    def reset(self) -> None:
        """Drop every ready task and pending batch (cancelling the batches) and zero the stats."""
        self._clear()
        self.stats.reset()

    @property
    def instruments(self) -> tuple[object, ...]:
        """The installed instruments (see ``asynq.instruments``), in the order added."""
        return self._instruments

    def add_instrument(self, instrument: object) -> None:
        """Call ``instrument``'s hooks (``asynq.instruments.Instrument``) from now on; nothing
        happens if it is already installed. An instrument with task step hooks switches this
        scheduler to its instrumented loop until the last such instrument is removed."""
        hooks = instruments._defined_hooks(instrument)
        if not hooks:
            raise TypeError(
                f"add_instrument() expects an instrument, an object with at least one of the "
                f"hooks {', '.join(instruments.HOOKS)}, got {type(instrument).__name__}: "
                f"{futures.short_repr(instrument, 60)}; subclass asynq.instruments.Instrument "
                "and override the hooks you need"
            )
        if instrument not in self._instruments:
            self._set_instruments(self._instruments + (instrument,))

    def remove_instrument(self, instrument: object) -> None:
        """Stop calling ``instrument``'s hooks; ``KeyError`` if it is not installed here."""
        if instrument not in self._instruments:
            raise KeyError(
                f"remove_instrument(): {futures.short_repr(instrument, 60)} is not installed on "
                f"this scheduler (installed: {len(self._instruments)}); instruments are per "
                "thread, remove it on the thread that added it"
            )
        self._set_instruments(tuple(i for i in self._instruments if i is not instrument))

    def _set_instruments(self, installed: tuple[object, ...]) -> None:
        def bound(name: str) -> tuple[Callable[..., Any], ...]:
            return tuple(
                getattr(i, name) for i in installed if name in instruments._defined_hooks(i)
            )

        self._instruments = installed
        self._before_step = bound("before_task_step")
        self._after_step = bound("after_task_step")
        self._before_round = bound("before_round")
        self._after_round = bound("after_round")
        self._before_flush = bound("before_batch_flush")
        self._after_flush = bound("after_batch_flush")
        # The kernel's own class switch: the loop pays for step hooks only while some are set.
        plain = getattr(type(self), "_plain_class", type(self))
        wanted = _stepping_class(plain) if self._before_step or self._after_step else plain
        if type(self) is not wanted:
            self.__class__ = wanted

    def dump(self, indent: int = 0) -> None:
        """Print the active task, the ready queue and the pending batches."""
        pad = " " * indent
        print(f"{pad}TaskScheduler (active: {self.active_task!r})")
        print(f"{pad}  ready: {len(self._ready)} task(s)")
        for task in list(self._ready)[:20]:
            task.dump(indent + 4)
        print(f"{pad}  pending batches: {len(self._batches)}")
        for batch in self._batches:
            batch.dump(indent + 4)

    def __repr__(self) -> str:
        return (
            f"<TaskScheduler active={self.active_task!r} ready={len(self._ready)} "
            f"batches={len(self._batches)}>"
        )

    # -- internals -----------------------------------------------------------------------------

    def _clear(self) -> None:
        # Cancel first: tasks woken by the cancellation land on the ready queue, cleared next.
        batches, self._batches = self._batches, []
        for batch in batches:
            batch._scheduled = False
            if not batch._computed:
                batch.cancel()
        self._ready.clear()
        for _, aside in self._holds:
            aside.clear()

    def _schedule_root(self, future: Any) -> None:
        kind = _kinds.get(type(future))
        if kind is None:
            kind = _kind_of(type(future))
        if kind == _TASK:
            task: AsyncTask[Any] = future
            if task._state == NEW:
                task._state = STARTED
                self.stats.tasks += 1
                self._ready.append(task)
            elif task.running:
                raise AsyncTaskError(
                    f"{task!r} asked for its own value while running; a task cannot wait for "
                    "itself (look for a synchronous call of the function inside its own body)"
                )
        elif kind == _ITEM:
            self._schedule_batch(future.batch)
        elif kind == _BATCH:
            self._schedule_batch(future)

    def _schedule_batch(self, batch: BatchBase[Any]) -> None:
        if not batch._scheduled and not batch._computed:
            batch._scheduled = True
            self._batches.append(batch)

    def _pending_leaves(self, yielded: Any, out: list[FutureBase[Any]]) -> None:
        """Append the uncomputed futures in ``yielded`` to ``out``; raise ``_NotYieldable`` on a
        non-yieldable. No side effects, so a bad element leaves nothing half-registered."""
        cls = type(yielded)
        if cls is list or cls is tuple:
            for item in yielded:
                kind = _kinds.get(type(item))
                if kind is None:
                    kind = _kind_of(type(item))
                if kind != _NOT_A_FUTURE:
                    if not item._computed:
                        out.append(item)
                elif item is not None:
                    if type(item) in _CONTAINERS:
                        self._pending_leaves(item, out)
                    else:
                        raise _NotYieldable(item, yielded)
        elif cls is dict:
            for item in yielded.values():
                if item is None:
                    continue
                if type(item) in _CONTAINERS:
                    self._pending_leaves(item, out)
                    continue
                kind = _kinds.get(type(item))
                if kind is None:
                    kind = _kind_of(type(item))
                if kind == _NOT_A_FUTURE:
                    raise _NotYieldable(item, yielded)
                if not item._computed:
                    out.append(item)
        elif yielded is not None:
            kind = _kinds.get(cls)
            if kind is None:
                kind = _kind_of(cls)
            if kind == _NOT_A_FUTURE:
                raise _NotYieldable(yielded, None)
            if not yielded._computed:
                out.append(yielded)

    def _block(self, task: AsyncTask[Any], leaves: list[Any]) -> int:
        """Make ``task`` wait on ``leaves`` (uncomputed futures); start what they need.
        Returns how many are still uncomputed afterwards."""
        # Value providers run arbitrary code (which may wait on other futures): run them all
        # before this task registers anywhere, so nothing can wake it half-registered.
        for leaf in leaves:
            if _kinds[type(leaf)] == _PROVIDED and not leaf._computed:
                leaf._compute()
        started: list[AsyncTask[Any]] = []
        pending = 0
        for leaf in leaves:
            kind = _kinds[type(leaf)]
            if kind == _TASK:
                if leaf._state == NEW:
                    leaf._state = STARTED
                    started.append(leaf)
            elif kind == _ITEM:
                self._schedule_batch(leaf.batch)
            elif kind == _BATCH:
                self._schedule_batch(leaf)
            if leaf._computed:
                continue
            _add_waiter(leaf, task)
            pending += 1
        if started:
            self.stats.tasks += len(started)
            self._ready.extendleft(reversed(started))
        return pending

    def _run(self, task: AsyncTask[Any]) -> None:
        """Drive ``task`` until it blocks on an uncomputed future or finishes.

        One pass per step: (1) the value to resume with, read from what the task was blocked on
        (``_read_values``); (2) ``send`` or ``throw`` into the generator; (3) one dispatch on
        the shape of what it yielded: ``None``; one task or batch item (handled here: the most
        common yield); an exact list or tuple (``_yield_sequence``); anything else
        (``_yield_any``). Each registers the task as a waiter of the uncomputed futures and
        says how many there are; when none, the task resumes at once with ``_read_values``,
        otherwise it is marked blocked, in one place at the end of the dispatch, until the
        wake-up protocol (``futures._wake``) queues it again.

        When the task that would run next is known here (a new task it yields alone, or the
        single waiter its end wakes), it runs in this same call instead of going through the
        ready queue and back: the order is the one the queue would give. Not in shuffled
        order, nor where ``_hand_off`` is off (while instruments watch task steps)."""
        if task._computed:
            return
        if task.running:
            raise AsyncqInternalError(
                f"internal error in asynq - please file a bug: {task!r} was scheduled while running"
            )
        prev = self.active_task
        if prev is not None and prev.contexts:
            _pause(prev.contexts)
        ready = self._ready
        handoff = self._hand_off and self._rng is None
        try:
            while True:  # one pass per task run in this call
                next_task: AsyncTask[Any] | None = None
                send_value: Any = None
                send_error: BaseException | None = None
                send_tb: TracebackType | None = None
                yielded: Any = task._yielded
                if yielded is not None:
                    task._yielded = None
                    if task._shape is _ONE:
                        if yielded._error is None:
                            send_value = yielded._value
                        else:
                            send_error = yielded._error
                            send_tb = yielded._traceback
                    else:
                        try:
                            send_value = _read_values(yielded, task._shape)
                        except _Throw as thrown:
                            send_error = thrown.error
                            send_tb = thrown.traceback
                generator = task._generator
                contexts = task.contexts
                self.active_task = task
                if contexts:
                    _resume(contexts)
                task.running = True
                try:
                    if generator is None:
                        # Not a generator function: its body runs now, and finishes the task
                        # unless it returns a generator, which is then driven as the task's own.
                        try:
                            result = task.fn(*task.args, **task.kwargs)
                        except BaseException as error:  # noqa: BLE001 - the task carries any failure
                            task.running = False
                            task.set_error(_strip_own_frame(error))
                        else:
                            if type(result) is not types.GeneratorType:
                                task.running = False
                                task.set_value(result)
                            else:
                                generator = task._generator = result
                    while generator is not None:
                        try:
                            if send_error is None:
                                yielded = generator.send(send_value)
                            else:
                                # Throw each waiter the traceback the error had where it failed,
                                # not one that grew as other waiters were thrown the same error.
                                thrown_error, send_error = send_error.with_traceback(send_tb), None
                                send_tb = None
                                yielded = generator.throw(thrown_error)
                        except StopIteration as stop:
                            # The end of every task: set the value (set_value, inlined) and wake
                            # the waiters at the front of the queue, so that a parent woken by
                            # its last child runs next and frees the children at once.
                            task.running = False
                            task._value = stop.value
                            task._computed = True
                            waiters = task._waiters
                            if waiters is not None:
                                task._waiters = None
                                if type(waiters) is list:
                                    _wake(waiters, True)
                                else:
                                    # _wake for the usual single waiter, inlined (every task
                                    # ends here), plus the hand-off: the woken task runs next.
                                    # Not with on_computed callbacks: they run next and could
                                    # wait for the woken task, which must then be queued.
                                    waiters._pending -= 1
                                    if waiters._pending:  # it still waits on other futures
                                        pass
                                    elif handoff and task._on_computed is None:
                                        next_task = waiters
                                    else:
                                        ready.appendleft(waiters)
                            if task._on_computed is not None:
                                futures.call_on_computed(task)
                            break
                        except AsyncTaskResult as legacy:
                            task.running = False
                            task.set_value(legacy.result)
                            break
                        except BaseException as error:  # noqa: BLE001 - the task carries any failure
                            task.running = False
                            task.set_error(_strip_own_frame(error))
                            break
                        # One dispatch per shape of what was yielded; each either resumes the
                        # task (continue) or leaves ``pending`` futures to wait on.
                        if yielded is None:
                            send_value = None
                            continue
                        kind = _kinds.get(type(yielded))
                        if kind is _TASK or kind is _ITEM:
                            if yielded._computed:
                                if yielded._error is None:
                                    send_value = yielded._value
                                else:
                                    send_error = yielded._error
                                    send_tb = yielded._traceback
                                continue
                            if _non_async_open and task in _non_async_open:
                                send_error = NonAsyncContextError(_NON_ASYNC_MESSAGE)
                                continue
                            if kind is _ITEM:
                                batch = yielded.batch
                                if not batch._scheduled:
                                    batch._scheduled = True
                                    self._batches.append(batch)
                            elif yielded._state is NEW:
                                yielded._state = STARTED
                                self.stats.tasks += 1
                                if handoff:
                                    next_task = yielded
                                else:
                                    ready.appendleft(yielded)
                            # _add_waiter, inlined: this is the most common yield.
                            waiters = yielded._waiters
                            if waiters is None:
                                yielded._waiters = task
                            elif type(waiters) is list:
                                waiters.append(task)
                            else:
                                yielded._waiters = [waiters, task]
                            pending = 1
                            shape = _ONE
                        else:
                            try:
                                if type(yielded) is list or type(yielded) is tuple:
                                    pending, yielded, shape = self._yield_sequence(task, yielded)
                                else:
                                    pending, yielded, shape = self._yield_any(task, yielded)
                                if not pending:
                                    send_value = _read_values(yielded, shape)
                                    continue
                            except _Throw as thrown:
                                send_error = thrown.error
                                send_tb = thrown.traceback
                                continue
                        # The task blocks: the one place that marks it so. ``_shape`` says how
                        # to read the values when it resumes; ``_queue`` is where it is woken.
                        task._pending = pending
                        task._yielded = yielded
                        task._shape = shape
                        task._queue = ready
                        break
                finally:
                    task.running = False
                    contexts = task.contexts
                    if contexts:
                        _pause(contexts)
                if next_task is None or next_task._computed:
                    return
                task = next_task
        finally:
            self.active_task = prev
            if prev is not None and prev.contexts:
                _resume(prev.contexts)

    def _yield_sequence(
        self, task: AsyncTask[Any], yielded: list[Any] | tuple[Any, ...]
    ) -> tuple[int, Any, int]:
        """``task`` yielded an exact list or tuple: register it as a waiter of the uncomputed
        futures and start what they need. Returns (how many it waits on, the yield, its shape
        for ``_read_values``).

        Values known up front (``[ConstFuture(x) for x in ...]``) are read in one pass. A flat
        sequence of tasks, batch items and computed futures is handled in one pass too. On any
        other element that pass is undone and ``_yield_any`` takes over."""
        if _non_async_open and task in _non_async_open:
            return self._yield_any(task, yielded)
        shape = _LIST if type(yielded) is list else _TUPLE
        if yielded and type(yielded[0]) is ConstFuture:
            values = [item._value for item in yielded if type(item) is ConstFuture]
            if len(values) == len(yielded):
                return 0, values if shape is _LIST else tuple(values), _VALUES
        pending = 0
        started = None
        for item in yielded:
            kind = _kinds.get(type(item))
            if kind is _TASK:
                if item._computed:
                    continue
                if item._state is NEW:
                    item._state = STARTED
                    if started is None:
                        started = [item]
                    else:
                        started.append(item)
            elif kind is _ITEM:
                if item._computed:
                    continue
                batch = item.batch
                if not batch._scheduled:
                    batch._scheduled = True
                    self._batches.append(batch)
            elif kind is _CONST:
                continue
            elif item._computed if kind is _DONE else (
                kind is not None and kind is not _NOT_A_FUTURE and item._computed
            ):
                # A computed future of any other kind: its value or error is there.
                continue
            else:
                _unregister_until(yielded, item, task, started)
                return self._yield_any(task, yielded)
            # _add_waiter, inlined: this loop runs once per element of a fan-out.
            waiters = item._waiters
            if waiters is None:
                item._waiters = task
            elif type(waiters) is list:
                waiters.append(task)
            else:
                item._waiters = [waiters, task]
            pending += 1
        if started is not None:
            # New tasks go first, in yield order: depth first keeps few unfinished tasks
            # alive; woken tasks queue at the other end.
            self.stats.tasks += len(started)
            self._ready.extendleft(reversed(started))
        return pending, yielded, shape

    def _yield_any(self, task: AsyncTask[Any], yielded: Any) -> tuple[int, Any, int]:
        """``task`` yielded anything but ``None``, one task or batch item, or a flat sequence of
        those: register it as a waiter, as ``_yield_sequence`` does (same result). A yield
        adapter may first rescue a value that is not yieldable (the result then holds the
        adapted yield); what stays unyieldable is a ``TypeError`` thrown at the yield."""
        leaves: list[Any] = []
        try:
            try:
                self._pending_leaves(yielded, leaves)
            except _NotYieldable:
                adapted = _adapt(yielded)
                if adapted is None:
                    raise
                yielded = adapted
                leaves.clear()
                self._pending_leaves(yielded, leaves)
            if leaves and _non_async_open and task in _non_async_open:
                raise NonAsyncContextError(_NON_ASYNC_MESSAGE)
        except _NotYieldable as bad:
            raise _Throw(TypeError(_bad_yield_message(bad.value, bad.container)), None) from None
        except (TypeError, RuntimeError) as error:
            raise _Throw(error, None) from None
        pending = self._block(task, leaves) if leaves else 0
        return pending, yielded, _ANY

    def _flush_round(self) -> None:
        batches, self._batches = self._batches, []
        for batch in batches:
            batch._scheduled = False
        # A batch flushed meanwhile (by hand, or cancelled) is no reason for a round.
        batches = [batch for batch in batches if not batch._computed]
        if not batches:
            return
        if len(batches) > 1:
            if self._rng is not None:
                self._rng.shuffle(batches)
            batches.sort(key=_priority, reverse=True)
        stats = self.stats
        stats.before_round()
        for hook in self._before_round:
            hook()
        try:
            for batch in batches:
                batch._begin_flush()
            for batch in batches:
                if batch._computed:
                    continue
                for hook in self._before_flush:
                    hook(batch)
                self.on_before_batch_flush(batch)
                items = batch.items  # as it is before the flush: a batch may let go of items
                started = time.perf_counter()
                batch.flush()
                seconds = time.perf_counter() - started
                stats.after_batch_flush(batch, items, seconds)
                for hook in self._after_flush:
                    hook(batch, items, seconds)
                if options.DUMP_FLUSH_BATCH:
                    print(f"asynq: flushed {batch!r} in {seconds * 1000:.3f} ms")
                self.on_after_batch_flush(batch)
        finally:
            for hook in self._after_round:
                hook()


_stepping_classes: dict[type, type] = {}


def _stepping_class(plain: type[TaskScheduler]) -> type[TaskScheduler]:
    """The variant of the scheduler class ``plain`` that times each task step and calls the
    instruments' task step hooks around it (made once per class). It never hands a task's
    successor over within one ``_run``: every step goes through the hooks.

    A step's own time leaves out the steps and rounds that ran nested inside it (synchronous
    calls): ``_step_nested`` holds, per running step, the seconds spent nested so far."""
    cls = _stepping_classes.get(plain)
    if cls is None:
        plain_run = plain._run
        plain_flush_round = plain._flush_round

        def _run(self: TaskScheduler, task: AsyncTask[Any]) -> None:
            if task._computed:
                return
            if self._before_step:
                for hook in self._before_step:
                    hook(task)
            nested = self._step_nested
            nested.append(0.0)
            start = perf_counter()
            try:
                plain_run(self, task)
            finally:
                end = perf_counter()
                inside = nested.pop()
                if nested:
                    nested[-1] += end - start
            # Only a step that ended (the task finished or blocked) is reported: an error of the
            # scheduler itself that cut it short has escaped by now.
            own = end - start - inside
            for hook in self._after_step:
                hook(task, start, end, own)

        def _flush_round(self: TaskScheduler) -> None:
            nested = self._step_nested
            if not nested:
                plain_flush_round(self)
                return
            start = perf_counter()
            try:
                plain_flush_round(self)
            finally:
                # A round flushed inside a step (a synchronous call) is not the step's own time.
                nested[-1] += perf_counter() - start

        namespace = {
            "_run": _run,
            "_flush_round": _flush_round,
            "_hand_off": False,
            "_plain_class": plain,
            "__module__": plain.__module__,
            "__doc__": f"{plain.__name__} timing task steps for its instruments' step hooks.",
        }
        cls = _stepping_classes[plain] = type(f"Instrumented{plain.__name__}", (plain,), namespace)
    return cls


# How a blocked task's yield is shaped, so that resuming it takes the shortest path.
# _VALUES: the values themselves, read already (a yield of ConstFutures only).
_ONE, _LIST, _TUPLE, _ANY, _VALUES = range(5)


def _add_waiter(future: FutureBase[Any], task: AsyncTask[Any]) -> None:
    """Register ``task`` as waiting on ``future``. ``_waiters`` holds the only waiter itself, or
    a list once there are several: most futures have exactly one waiter."""
    waiters = future._waiters
    if waiters is None:
        future._waiters = task
    elif type(waiters) is list:
        waiters.append(task)
    else:
        future._waiters = [waiters, task]


def _remove_waiter(future: FutureBase[Any], task: AsyncTask[Any]) -> None:
    waiters = future._waiters
    if waiters is task:
        future._waiters = None
    elif type(waiters) is list:
        waiters.remove(task)
        if not waiters:
            future._waiters = None


def _unregister_until(
    yielded: Any, stop: object, task: AsyncTask[Any], started: list[AsyncTask[Any]] | None
) -> None:
    """Undo what the flat fast path did before it met ``stop`` (the first element it could not
    handle): the waits it registered and the tasks it marked started, so that the general path
    starts from a clean slate."""
    for item in yielded:
        if item is stop:
            break
        if not item._computed:
            _remove_waiter(item, task)
    if started is not None:
        for item in started:
            item._state = NEW


def _priority(batch: BatchBase[Any]) -> tuple[int, int]:
    return batch.get_priority()


def _pause(contexts: tuple[Any, ...]) -> None:
    # Every context is paused even if one raises; then the first error goes on.
    error = None
    for context in reversed(contexts):
        try:
            context.pause()
        except BaseException as raised:  # noqa: BLE001 - re-raised below
            if error is None:
                error = raised
    if error is not None:
        raise error


def _resume(contexts: tuple[Any, ...]) -> None:
    for context in contexts:
        context.resume()


def _strip_own_frame(error: BaseException) -> BaseException:
    """Drop the scheduler's own frame from the head of ``error``'s traceback: what remains reads
    as the chain of asynq functions, and each parent adds its frame when the error is thrown in."""
    tb = error.__traceback__
    if tb is not None and tb.tb_frame.f_code in _OWN_CODES:
        error.__traceback__ = tb.tb_next
    return error


_OWN_CODES = {TaskScheduler._run.__code__}

# Tasks that are inside a ``with NonAsyncContext`` block (see contexts.py), by thread-bound task.
_non_async_open: dict[AsyncTask[Any], int] = NonAsyncContext._open_by_task

_NON_ASYNC_MESSAGE = (
    "an @asynq() function yielded inside a `with` block of a NonAsyncContext, which must not be "
    "active while the task is switched out; move the yield out of the `with` block"
)


def _bad_yield_message(value: object, container: object) -> str:
    task = _state_active()
    who = f"@asynq() function {task.call_str()}" if task is not None else "an @asynq() function"
    where = f" inside a {type(container).__name__}" if container is not None else ""
    allowed = (
        "an asynq task may yield None, a future (a task from f.asynq(...), a batch item), or an "
        "exact list, tuple or dict of those"
    )
    if isinstance(value, types.CoroutineType):
        hint = (
            f"`async def {value.__qualname__}` makes a coroutine, which asyncio awaits; asynq "
            f"cannot batch it. Write it as a generator decorated with @asynq() and yield "
            f"`{value.__qualname__}.asynq(...)`"
        )
        what = f"a coroutine object ({value.__qualname__})"
        value.close()  # it will never be awaited; avoid the "never awaited" warning
    elif isinstance(value, types.GeneratorType):
        what = f"a generator object ({value.__qualname__})"
        hint = f"decorate {value.__qualname__} with @asynq() and yield `{value.__qualname__}.asynq(...)`"
    elif type(value).__module__ in ("unittest.mock", "mock.mock"):
        what = f"a plain {type(value).__name__} ({futures._short_repr(value, 80)})"
        hint = (
            "a unittest.mock or pytest-mock mock (e.g. mocker.patch) replaced an asynq function, "
            "so its .asynq(...) returned a plain mock instead of a future. Patch asynq functions "
            "with asynq.mock.patch(...) (or the asynq_mocker fixture), whose mocks answer "
            ".asynq(...) with a future"
        )
    elif callable(value) and hasattr(value, "asynq"):
        name = getattr(value, "__name__", repr(value))
        what = f"the asynq function {name} itself"
        hint = f"call it with `.asynq(...)`: `yield {name}.asynq(...)`"
    elif isinstance(value, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        name = getattr(value, "__name__", repr(value))
        what = f"the function {name} itself"
        hint = f"call it with `.asynq(...)` after decorating it with @asynq(): `yield {name}.asynq(...)`"
    elif isinstance(value, (set, frozenset)):
        what = f"a {type(value).__name__}"
        hint = (
            "sets are unordered, so values could not be matched to futures; yield a list or tuple"
        )
    elif isinstance(value, (list, tuple, dict)):
        what = f"{_article(type(value).__name__)} (a subclass of {type(value).__mro__[1].__name__})"
        hint = (
            f"only exact list, tuple and dict are unwrapped; convert it, e.g. "
            f"`yield {type(value).__mro__[1].__name__}(value)`"
        )
    else:
        what = f"{_article(type(value).__name__)} ({futures._short_repr(value, 60)})"
        hint = "yield the future that computes it, or use the value directly without yielding"
    return f"{who} yielded {what}{where}; {allowed}. Hint: {hint}."


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


# -- per-thread state ------------------------------------------------------------------------------


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.scheduler = TaskScheduler()


_thread_state = _ThreadState()
async_task._thread_state = _thread_state


def get_scheduler() -> TaskScheduler:
    """The calling thread's scheduler (created on first use)."""
    return _thread_state.scheduler


def get_active_task() -> AsyncTask[Any] | None:
    """The task whose code is running on this thread, or None outside any task."""
    return _thread_state.scheduler.active_task


def reset() -> None:
    """Reset the calling thread's scheduler (see ``TaskScheduler.reset``)."""
    get_scheduler().reset()


_state_active = get_active_task
futures._thread_state = _thread_state
instruments._thread_state = _thread_state

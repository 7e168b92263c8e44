"""asynq.lowlevel: the kernel's published surface for code that builds on tasks, items and batches.

The kernel (futures, tasks, batching, the scheduler, decorators, contexts) keeps its state in
private fields. Everything built around it (memcache, loaders, the asyncio bridge, priming, tools,
tests' helpers) goes through the names below instead, so that the kernel can change its insides
without breaking them. When a hot path needs a shortcut, it is published here.

Tasks
    ``start_task(task, contexts, scheduler)`` queues a new task to run inside given contexts on a
    given thread's scheduler; ``task_contexts(task)`` reads the contexts a task runs in (to start
    another under the same ones); ``task_generator(task)`` is the generator a task drives; ``context_task(context)`` the task
    that entered an ``AsyncContext``.

Items whose value a task computes
    ``set_from_task(item, task, ...)`` takes a batch item out of its batch and starts ``task``,
    which is responsible for setting the item (``set_value`` / ``set_error``). Until then the item
    belongs to the never-flushed pseudo-batch ``AWAITING_TASK``: a task that yields it waits for
    the task, not for a flush.

Batches
    ``pending_items(batch)`` lists the items a flush must still set; ``resolve_item(item,
    value)`` is the fast ``set_value`` of a flush loop; ``fail_item(item, error)`` its error twin; ``close_batch(batch)`` stops a batch from taking new items (its kind
    makes a fresh batch the active one); ``is_closed(batch)`` tells whether that happened.

Per-thread state and hooks
    ``thread_state.scheduler`` is the calling thread's scheduler (its ``active_task`` is the
    running task), for hot paths that cannot afford a function call. ``note_sync_call(fn)``
    records a synchronous call inside a task (counted, logged in debug mode).
    ``set_before_sync_call(hook)`` runs ``hook()`` before every synchronous call of an asynq
    function (legacy priming drives what it recorded); ``set_sync_call_check(check)`` vets such
    calls while an event loop drives asynq work; ``register_asyncio_bridge(bridge)`` lets the
    kernel reach the asyncio interop without importing it. ``short_repr(value, limit)`` and
    ``state_str(future)`` are the kernel's short descriptions, for error messages and reprs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from . import decorators as _decorators
from . import futures as _futures
from .async_task import NEW, AsyncTask
from .batching import BatchBase, BatchItemBase
from .contexts import AsyncContext
from .futures import FutureBase
from .scheduler import TaskScheduler
from .scheduler import _thread_state as _scheduler_thread_state

__all__ = [
    "AWAITING_TASK",
    "close_batch",
    "context_task",
    "fail_item",
    "is_closed",
    "note_sync_call",
    "pending_items",
    "register_asyncio_bridge",
    "resolve_item",
    "set_before_sync_call",
    "set_from_task",
    "set_sync_call_check",
    "short_repr",
    "start_task",
    "state_str",
    "task_contexts",
    "task_generator",
    "thread_state",
]

_I = TypeVar("_I", bound=BatchItemBase)

#: The calling thread's kernel state: ``thread_state.scheduler`` is its ``TaskScheduler``.
thread_state: Any = _scheduler_thread_state

_NO_CONTEXTS: tuple[Any, ...] = ()


# -- tasks -----------------------------------------------------------------------------------------


def _check_task(task: object, what: str) -> AsyncTask[Any]:
    if not isinstance(task, AsyncTask):
        raise TypeError(
            f"{what} expects an AsyncTask (what f.asynq(...) returns, or AsyncTask(generator, fn, "
            f"args, kwargs)), got {type(task).__name__}: {short_repr(task, 60)}"
        )
    if task._state != NEW or task._computed:
        raise ValueError(
            f"{what} expects a task that has not started, got {task!r}; create a new task "
            "for each run"
        )
    return task


def start_task(
    task: AsyncTask[Any],
    contexts: tuple[Any, ...] = _NO_CONTEXTS,
    scheduler: TaskScheduler | None = None,
) -> None:
    """Queue the new ``task`` on ``scheduler`` (the calling thread's by default), to run inside
    ``contexts`` (outermost first) instead of its creator's. Nothing runs now: the task runs
    when that scheduler next runs tasks, and wakes up on that scheduler's thread."""
    _start(_check_task(task, "start_task()"), contexts, scheduler)


def _start(
    task: AsyncTask[Any], contexts: tuple[Any, ...], scheduler: TaskScheduler | None
) -> None:
    if scheduler is None:
        scheduler = _scheduler_thread_state.scheduler
    task.contexts = contexts
    task._queue = scheduler._ready
    scheduler.schedule(task)


def task_contexts(task: AsyncTask[Any] | None) -> tuple[Any, ...]:
    """The contexts ``task`` runs inside, outermost first; ``()`` for None (no task)."""
    return task.contexts if task is not None else _NO_CONTEXTS


def task_generator(task: AsyncTask[Any]) -> Any:
    """The generator ``task`` drives, or None for a function whose body does not yield."""
    return task._generator


def context_task(context: AsyncContext) -> AsyncTask[Any] | None:
    """The task that entered ``context`` (``enter_context``) and has not left it, else None."""
    task: AsyncTask[Any] | None = context._task
    return task


# -- items whose value a task computes ----------------------------------------------------------


class _AwaitingTask(BatchBase[Any]):
    """Where an item waits while a task computes its value: never flushed, never scheduled."""

    def __init__(self) -> None:
        super().__init__()
        # The scheduler adds a batch to its round only if it is not marked as already there;
        # this one is marked forever, and closed to new items.
        self._scheduled = True
        self._flush_begun = True

    def _try_switch_active_batch(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<AWAITING_TASK: items whose value a running task computes>"


#: The pseudo-batch of items handed to a task by ``set_from_task``; the scheduler never flushes
#: it. Item classes may also be created against it, for an item computed from the start.
AWAITING_TASK: BatchBase[Any] = _AwaitingTask()


def set_from_task(
    item: BatchItemBase,
    task: AsyncTask[Any],
    contexts: tuple[Any, ...] = _NO_CONTEXTS,
    scheduler: TaskScheduler | None = None,
) -> None:
    """Take ``item`` out of its batch: its value will come from ``task``, started now (see
    ``start_task``). The task must set the item (``set_value`` or ``set_error``) before it
    ends; until then, whoever yields the item waits for the task, not for a flush. The item's
    old batch no longer answers for it (a flush that leaves it unset, or fails, does not touch
    it), though it stays in that batch's ``items``: a flush loop skips items whose ``batch`` is
    not itself. This is how a cache computes a miss inside its own flush."""
    if not isinstance(item, BatchItemBase):
        raise TypeError(
            f"set_from_task() expects a batch item (a BatchItemBase), got "
            f"{type(item).__name__}: {short_repr(item, 60)}"
        )
    if item._computed:
        raise ValueError(
            f"set_from_task() got {item!r}, which is already computed; hand a task only an "
            "item that is still pending"
        )
    _check_task(task, "set_from_task()")
    item.batch = AWAITING_TASK
    _start(task, contexts, scheduler)


# -- batches -------------------------------------------------------------------------------------


def pending_items(batch: BatchBase[_I]) -> list[_I]:
    """The items of ``batch`` not computed yet, in order: a new list, taken once, for a flush
    loop (which then need not ask each item ``is_computed()``)."""
    return [item for item in batch.items if not item._computed]


def resolve_item(item: FutureBase[Any], value: Any) -> None:
    """Set the value of the uncomputed ``item`` and wake its waiters: ``set_value`` without the
    already-computed check, for a flush loop that has just checked ``is_computed()``."""
    item._value = value
    item._computed = True
    waiters = item._waiters
    if waiters is not None and item._on_computed is None:
        # The usual item: tasks wait on it, nobody subscribed a callback.
        item._waiters = None
        if type(waiters) is list:
            for task in waiters:
                task._pending -= 1
                if not task._pending:
                    task._queue.append(task)
        else:
            waiters._pending -= 1
            if not waiters._pending:
                waiters._queue.append(waiters)
    elif waiters is not None or item._on_computed is not None:
        item._notify()


def fail_item(item: FutureBase[Any], error: BaseException) -> None:
    """Fail the uncomputed ``item`` with ``error`` and wake its waiters (``set_error``)."""
    item.set_error(error)


def close_batch(batch: BatchBase[Any]) -> None:
    """Stop ``batch`` from taking new items: if it is the active batch of its kind, a fresh one
    becomes active (its ``_try_switch_active_batch``). Its flush still happens as usual; a
    driver calls this on the thread that creates items before flushing elsewhere."""
    batch._try_switch_active_batch()


def is_closed(batch: BatchBase[Any]) -> bool:
    """Whether ``batch`` has begun to flush (or was cancelled): it takes no new items."""
    return batch._flush_begun


# -- per-thread hooks ----------------------------------------------------------------------------

#: Record a synchronous call of the asynq function ``fn`` inside a running task: counted in
#: ``stats.impure_calls``, logged under ``debug.options.DUMP_SYNC_CALLS``.
note_sync_call: Callable[[Any], None] = _decorators._note_sync_call


def set_before_sync_call(hook: Callable[[], None] | None) -> Callable[[], None] | None:
    """Call ``hook()`` before every synchronous call ``f(x)`` of an asynq function (None: no
    hook). Legacy priming uses it to drive what was primed first. Returns the hook it
    replaces: whoever sets one for a while puts that one back afterwards."""
    if hook is not None and not callable(hook):
        raise TypeError(
            f"set_before_sync_call() expects a function of no arguments or None, got "
            f"{type(hook).__name__}: {short_repr(hook, 60)}"
        )
    previous = _decorators._before_sync_call
    _decorators._before_sync_call = hook
    return previous


def set_sync_call_check(check: Callable[[object], None] | None) -> Callable[[object], None] | None:
    """Call ``check(fn)`` before every synchronous call of the asynq function ``fn`` (None: no
    check). The asyncio bridge installs one while an event loop drives asynq work. Returns the
    check it replaces, to be put back afterwards."""
    if check is not None and not callable(check):
        raise TypeError(
            f"set_sync_call_check() expects a function of one argument or None, got "
            f"{type(check).__name__}: {short_repr(check, 60)}"
        )
    previous = _decorators._sync_call_check
    _decorators._sync_call_check = check
    return previous


def register_asyncio_bridge(bridge: Any) -> None:
    """Let the kernel reach the asyncio interop (``asynq.asyncio_interop``) without importing
    it: ``bridge`` has ``is_asyncio_mode()``, ``from_awaitable(awaitable)`` and
    ``resolve_in_asyncio(future)``."""
    missing = [
        name
        for name in ("is_asyncio_mode", "from_awaitable", "resolve_in_asyncio")
        if not callable(getattr(bridge, name, None))
    ]
    if missing:
        raise TypeError(
            f"register_asyncio_bridge() got {short_repr(bridge, 60)}, which lacks "
            f"{', '.join(missing)}; pass the asynq.asyncio_interop module or an object with "
            "those three functions"
        )
    _decorators._asyncio_bridge = bridge


# -- descriptions --------------------------------------------------------------------------------


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (ending in ``...``); never raises."""
    return _futures._short_repr(value, limit)


def state_str(future: FutureBase[Any]) -> str:
    """A few words on ``future``'s state: ``pending``, ``value=...``, ``error=...``, or for a
    task ``running``, ``not started``, ``waiting on N future(s)``."""
    return future._state_str()

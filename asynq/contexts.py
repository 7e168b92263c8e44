"""Contexts that follow their task across switches.

The scheduler interleaves tasks, so an ordinary ``with`` block inside an ``@asynq()`` function would
stay active while other tasks run. An ``AsyncContext`` entered inside a task is *paused* whenever
that task is switched out and *resumed* when it is switched back in. Tasks created inside the block
(``f.asynq(...)`` calls) inherit it: they run inside the contexts that were active where they were
created. Outside any task an ``AsyncContext`` is an ordinary context manager.

A task created outside any task (a *root*: ``f(x)`` at top level, ``await f.asyncio(x)``) starts in
the contexts of ``contexts_for_new_roots(...)``, a context variable: this is how a web framework's
middleware gives every root of one HTTP request that request's scope, even when the requests of an
asyncio server interleave on one thread (see ``asynq.web``).

A ``NonAsyncContext`` is the opposite promise: its block must not span a switch. Yielding an
unfinished future inside it throws ``NonAsyncContextError`` (a ``RuntimeError`` and, as in asynq
1.6, an ``AssertionError``) into the task at that ``yield``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import async_task
from .async_task import ContextStack, get_root_contexts, root_contexts_var

if TYPE_CHECKING:
    from .async_task import AsyncTask

__all__ = [
    "AsyncContext",
    "NonAsyncContext",
    "NonAsyncContextError",
    "contexts_for_new_roots",
    "enter_context",
    "get_root_contexts",
    "leave_context",
]

_C = TypeVar("_C", bound="AsyncContext")


@contextmanager
def contexts_for_new_roots(*contexts: AsyncContext) -> Iterator[None]:
    """Within the block (in this thread, or this asyncio task), tasks created outside any task
    start inside ``contexts`` as if they had been created in a ``with`` block of each; the tasks
    they create inherit them. Tasks created inside a task inherit their creator's contexts as
    usual."""
    for context in contexts:
        if not isinstance(context, AsyncContext):
            raise TypeError(
                f"contexts_for_new_roots() expects AsyncContext objects, got "
                f"{type(context).__name__}: {context!r}"
            )
    token = root_contexts_var.set(ContextStack(root_contexts_var.get() + contexts))
    try:
        yield
    finally:
        root_contexts_var.reset(token)


def _active_task() -> AsyncTask[Any] | None:
    # The scheduler's thread state, as async_task holds it: the scheduler imports this module.
    task: AsyncTask[Any] | None = async_task._thread_state.scheduler.active_task
    return task


def enter_context(context: AsyncContext) -> None:
    """Attach ``context`` to the running task (if any) and resume it."""
    task = _active_task()
    context._task = task
    if task is not None:
        task.contexts = ContextStack(task.contexts + (context,))
    context.resume()


def leave_context(context: AsyncContext) -> None:
    """Pause ``context`` and detach it from the task it was entered in."""
    task = context._task
    context._task = None
    if task is not None:
        task.contexts = ContextStack(c for c in task.contexts if c is not context)
        if _active_task() is not task:
            # The generator is being closed while another task runs (garbage collection):
            # the scheduler already paused this context when it switched the task out.
            return
    context.pause()


class AsyncContext:
    """A context manager that is paused while its task is switched out.

    Subclasses define ``resume()`` (make the effect active) and ``pause()`` (undo it). Both are
    called once on enter and exit, and once per switch in between.
    """

    _task: AsyncTask[Any] | None = None

    def __enter__(self: _C) -> _C:
        enter_context(self)
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        leave_context(self)

    @abstractmethod
    def resume(self) -> None:
        """Make the context's effect active (on enter and when the task is switched in)."""

    @abstractmethod
    def pause(self) -> None:
        """Undo the context's effect (on exit and when the task is switched out)."""


class NonAsyncContextError(RuntimeError, AssertionError):
    """A task yielded an unfinished future inside a ``with`` block of a ``NonAsyncContext``."""


class NonAsyncContext:
    """A context manager whose block must not contain a ``yield`` that switches tasks.

    Subclasses may override ``__enter__``/``__exit__`` but must call the base versions.
    """

    # Open blocks per task (tasks are bound to one thread, so one dict serves all threads).
    _open_by_task: dict[AsyncTask[Any], int] = {}

    _owner: AsyncTask[Any] | None = None

    def __enter__(self) -> Any:
        task = _active_task()
        self._owner = task
        if task is not None:
            counts = NonAsyncContext._open_by_task
            counts[task] = counts.get(task, 0) + 1
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = self._owner
        self._owner = None
        if task is not None:
            counts = NonAsyncContext._open_by_task
            left = counts.get(task, 1) - 1
            if left:
                counts[task] = left
            else:
                counts.pop(task, None)

    def pause(self) -> None:
        """Never called by the scheduler: the block cannot span a switch."""

    def resume(self) -> None:
        """Never called by the scheduler: the block cannot span a switch."""

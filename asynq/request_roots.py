"""Request roots: one request-local storage per request, for the caches outside the kernel.

A request, for the caches that live outside the kernel (loaders, memcache's request-local
cache), has one ``RequestStorage``: a dict of values keyed by owner (a loader, a memcache
client: whatever object the values belong to), created on first use and closed once when the
request ends: its values are dropped, and the callbacks registered with ``on_close`` run (a
memcache scope sends its write-backs there). Which request the running code belongs to:

1. an explicit request: a storage entered with ``with RequestStorage():`` (``with
   mc.request():``, ``loaders.request_scope()``, the WSGI and Django middleware), or one that
   new root tasks start in (``contexts.contexts_for_new_roots(storage)``: the ASGI middleware).
   A ``RequestStorage`` is an ``AsyncContext``: entered inside a task, it follows that task and
   the tasks it creates across switches; entered outside any task, it is the thread's until the
   block ends;
2. otherwise, inside a running task, the implicit request of its *request root*, the task at
   the end of its chain of creators (``request_root(task)``): ``storage_of(task)``, closed when
   the root's future is computed;
3. otherwise, outside any task, the open storage that new root tasks start in, if any;
4. otherwise none (``current_storage()`` is None): a top-level call is a request of its own,
   whose owner makes a storage and closes it with the call (``close_with(future)``).

Finding a root's storage is amortized O(1): every task on the way up is remembered with its
root's storage (weakly: a finished task's entry goes with it), so the next walk stops at the
first task already seen, and the last task asked about is answered without a lookup.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .async_task import get_root_contexts
from .contexts import AsyncContext, enter_context, leave_context
from .scheduler import _thread_state as _scheduler_state

if TYPE_CHECKING:
    from .async_task import AsyncTask
    from .futures import FutureBase

__all__ = [
    "RequestStorage",
    "current_storage",
    "generation",
    "request_root",
    "storage_for_new_roots",
    "storage_of",
]

#: Changes whenever an explicit request becomes, or stops being, current on any thread, and
#: whenever a request ends (a new int object each time, never one seen before, so ``is`` tells
#: them apart). A hot path may remember ``current_storage()``'s answer for a running task, and
#: what it found in that storage: it holds while the task and ``generation`` are unchanged.
generation = 0
_generations = itertools.count(1)

_V = TypeVar("_V")


# Per thread: ``current``, the explicit request current on this thread (innermost), and
# ``saved``, the ones it hides. A plain threading.local (set up by ``_thread_init``): reading a
# plain one's attributes is much cheaper than reading a subclass's, and this is a hot path.
_thread = threading.local()


def _thread_init() -> Any:
    _thread.current = None
    _thread.saved = []
    return _thread


class RequestStorage(AsyncContext):
    """The request-local values of one request, keyed by owner.

    ``values`` is the dict itself (owner -> value), for hot paths; it is None once the request
    has ended. Values are never shared between requests. As a context manager, ``with
    RequestStorage():`` is an explicit request: current for the block (and the tasks created in
    it), closed when the block ends.
    """

    def __init__(self) -> None:
        self.values: dict[Any, Any] | None = {}
        self._callbacks: list[Callable[[], object]] | None = None
        self._entered = False

    @property
    def closed(self) -> bool:
        """Whether the request has ended."""
        return self.values is None

    def get(self, owner: object) -> Any:
        """``owner``'s value in this request, or None (none yet, or the request has ended)."""
        values = self.values
        return None if values is None else values.get(owner)

    def setdefault(self, owner: object, factory: Callable[[], _V]) -> _V | None:
        """``owner``'s value, made by ``factory()`` on first use; None once the request has
        ended (nothing is stored for a request that is over). When two threads make it at
        once, one value wins and both get it."""
        values = self.values
        if values is None:
            return None
        value = values.get(owner)
        if value is None:
            value = values.setdefault(owner, factory())
        return value

    def on_close(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` when the request ends (at once if it has ended)."""
        if not callable(callback):
            raise TypeError(
                f"RequestStorage.on_close() expects a function of no arguments, got "
                f"{type(callback).__name__}: {callback!r}"
            )
        if self.values is None:
            callback()
            return
        if self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def close(self, _future: FutureBase[Any] | None = None) -> None:
        """End the request: drop the values and run the ``on_close`` callbacks (once, in the
        order they were registered)."""
        global generation
        if self.values is None:
            return
        self.values = None
        generation = next(_generations)  # what a hot path remembered of this request goes
        callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            callback()

    def close_with(self, future: FutureBase[Any]) -> None:
        """End the request when ``future`` is computed (a top-level call's own request)."""
        if future.is_computed():
            self.close()
        else:
            future.on_computed.subscribe(self.close)

    # -- as an explicit request ------------------------------------------------------------

    def __enter__(self) -> RequestStorage:
        if self._entered:
            raise RuntimeError(
                "this RequestStorage was already entered; a request is one `with` block: "
                "make a new RequestStorage() for each request"
            )
        if self.values is None:
            raise RuntimeError(
                "this RequestStorage is closed (its request has ended); make a new "
                "RequestStorage() for the next request"
            )
        self._entered = True
        enter_context(self)
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            leave_context(self)
        finally:
            self.close()

    def resume(self) -> None:
        """Make this request the thread's current one (on enter, and when a task that carries
        it is switched in)."""
        global generation
        state = _thread
        try:
            state.saved.append(state.current)
        except AttributeError:
            state = _thread_init()
            state.saved.append(None)
        state.current = self
        generation = next(_generations)

    def pause(self) -> None:
        """Restore the request that was current before (on exit, and when a task that carries
        it is switched out)."""
        global generation
        generation = next(_generations)
        state = _thread
        saved = getattr(state, "saved", None)
        if not saved:
            state.current = None
        elif state.current is self:
            state.current = saved.pop()
        else:
            # Not the innermost request (one ended out of order, e.g. priming's request ended
            # inside a block opened after it): the request resumed after this one saved it as
            # the one to restore; it restores what this one hid instead.
            for j in range(len(saved) - 1, 0, -1):
                if saved[j] is self:
                    saved[j] = saved[j - 1]
                    del saved[j - 1]
                    return

    def __repr__(self) -> str:
        state = "closed" if self.values is None else f"{len(self.values)} owner(s)"
        return f"<RequestStorage: {state}>"


# Every task seen -> its root's storage. Weak keys: an entry goes with its task. Values never
# refer to a task, so a root is not kept alive by its own entry.
_storages: weakref.WeakKeyDictionary[AsyncTask[Any], RequestStorage] = weakref.WeakKeyDictionary()
# The last (task, storage, task's creator) answered: one tuple, swapped whole, so threads never
# see half of it. A sibling of that task (same creator) has the same storage.
_last: tuple[object, RequestStorage | None, object] = (None, None, None)


def request_root(task: AsyncTask[Any]) -> AsyncTask[Any]:
    """The request root of ``task``: the end of its chain of creators (``task`` itself for a
    task created outside any task)."""
    _check_task(task, "request_root")
    while task.creator is not None:
        task = task.creator
    return task


def storage_of(task: AsyncTask[Any]) -> RequestStorage:
    """The request-local storage of ``task``'s request root (created on first use, closed
    when the root is computed)."""
    global _last
    last = _last
    if last[0] is task:
        return last[1]  # type: ignore[return-value]  # set together with its task
    try:
        creator = task.creator
    except AttributeError:
        _check_task(task, "storage_of")
        raise
    if creator is not None and creator is last[2]:
        storage = last[1]  # a sibling of the last task asked about
    else:
        try:
            storage = _storages.get(task)
        except TypeError:  # not weakly referenceable: not a task
            _check_task(task, "storage_of")
            raise
        if storage is None:
            storage = _walk(task)
    _last = (task, storage, creator)
    return storage  # type: ignore[return-value]  # set together with its task


def current_storage() -> RequestStorage | None:
    """The storage of the request the running code belongs to (see the module docstring):
    the explicit request current on this thread, else the running task's request root's, else
    (outside any task) the open storage new root tasks start in; None if there is none (a
    top-level call outside any request is a request of its own)."""
    try:
        storage: RequestStorage | None = _thread.current
    except AttributeError:
        storage = _thread_init().current
    if storage is not None:
        return storage
    task = _scheduler_state.scheduler.active_task
    if task is not None:
        return storage_of(task)
    return storage_for_new_roots()


def storage_for_new_roots() -> RequestStorage | None:
    """The open storage that tasks created outside any task start in (the innermost one given
    to ``contexts.contexts_for_new_roots``), or None."""
    contexts = get_root_contexts()
    if contexts:
        for context in reversed(contexts):
            if type(context) is RequestStorage and context.values is not None:
                return context
    return None


def _walk(task: AsyncTask[Any]) -> RequestStorage:
    _check_task(task, "storage_of")
    storages = _storages
    chain: list[AsyncTask[Any]] = []
    current = task
    while True:
        found = storages.get(current)
        if found is not None:
            break
        chain.append(current)
        creator = current.creator
        if creator is None:
            made = RequestStorage()
            # Another thread may have made the root's storage meanwhile: one wins.
            found = storages.setdefault(current, made)
            if found is made:
                if current.is_computed():
                    made.close()
                else:
                    current.on_computed.subscribe(made.close)
            break
        current = creator
    for seen in chain:
        storages[seen] = found
    return found


def _check_task(task: object, where: str) -> None:
    if getattr(task, "creator", _NOT_A_TASK) is _NOT_A_TASK:
        raise TypeError(
            f"{where}() expects an AsyncTask (e.g. asynq.get_active_task()), got "
            f"{type(task).__name__}: {task!r}"
        )


_NOT_A_TASK = object()

"""Request roots: the top-level task of the running task, and storage that lives as long as it.

A request, for the caches that live outside the kernel (loaders, memcache's request-local
cache), is everything one top-level call does: the task created outside any task (the *request
root*) and every task it creates, directly or not. ``request_root(task)`` walks up the chain of
creators to that root; ``storage_of(task)`` is the root's ``RequestStorage``, one dict of values
keyed by owner (a loader, a memcache client: whatever object the values belong to), created on
first use and closed when the root's future is computed: its values are dropped, and the
callbacks registered with ``on_close`` run (a memcache scope sends its write-backs there).

Finding the storage is amortized O(1): every task on the way up is remembered with its root's
storage (weakly: a finished task's entry goes with it), so the next walk stops at the first task
already seen, and the last task asked about is answered without a lookup.

Explicit requests (``with mc.request():``, ``loaders.request_scope()``, the contexts a web
middleware gives new roots through ``contexts.contexts_for_new_roots``) come before the implicit
request of the root; their owners check for them first.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .async_task import AsyncTask
    from .futures import FutureBase

__all__ = ["RequestStorage", "current_storage", "request_root", "storage_of"]

_V = TypeVar("_V")


class RequestStorage:
    """The request-local values of one request root, keyed by owner.

    ``values`` is the dict itself (owner -> value), for hot paths; it is None once the request
    has ended. Values are never shared between requests.
    """

    __slots__ = ("values", "_callbacks", "__weakref__")

    def __init__(self) -> None:
        self.values: dict[Any, Any] | None = {}
        self._callbacks: list[Callable[[], object]] | None = None

    @property
    def closed(self) -> bool:
        """Whether the request has ended (its root is computed)."""
        return self.values is None

    def get(self, owner: object) -> Any:
        """``owner``'s value in this request, or None (none yet, or the request has ended)."""
        values = self.values
        return None if values is None else values.get(owner)

    def setdefault(self, owner: object, factory: Callable[[], _V]) -> _V | None:
        """``owner``'s value, made by ``factory()`` on first use; None once the request has
        ended (nothing is stored for a request that is over)."""
        values = self.values
        if values is None:
            return None
        value = values.get(owner)
        if value is None:
            value = values[owner] = factory()
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
        """End the request: drop the values and run the ``on_close`` callbacks (once)."""
        if self.values is None:
            return
        self.values = None
        callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            callback()

    def __repr__(self) -> str:
        state = "closed" if self.values is None else f"{len(self.values)} owner(s)"
        return f"<RequestStorage: {state}>"


# Every task seen -> its root's storage. Weak keys: an entry goes with its task. Values never
# refer to a task, so a root is not kept alive by its own entry.
_storages: weakref.WeakKeyDictionary[AsyncTask[Any], RequestStorage] = weakref.WeakKeyDictionary()
# The last (task, storage) answered: one tuple, swapped whole, so threads never see half of it.
_last: tuple[object, RequestStorage | None] = (None, None)


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
        storage = _storages.get(task)
    except TypeError:  # not weakly referenceable: not a task
        _check_task(task, "storage_of")
        raise
    if storage is None:
        storage = _walk(task)
    _last = (task, storage)
    return storage


def current_storage() -> RequestStorage | None:
    """The request-local storage of the running task's request root; None outside any task
    (a top-level call is a request of its own, or belongs to an explicit scope)."""
    from .scheduler import get_active_task

    task = get_active_task()
    return None if task is None else storage_of(task)


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

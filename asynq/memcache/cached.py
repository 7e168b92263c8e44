"""Cached model functions: ``@mc.cached("namespace", ttl=...)``.

    @mc.cached("users.name")
    def name_of_user(uid):            # or an @asynq() function that yields its own reads
        return db.fetch_name(uid)

    name_of_user(4)                   # synchronous: memcached, then the body on a miss
    name = yield name_of_user.asynq(4)  # batched with every other read of the round
    name_of_user.prime(4)             # legacy priming: record the key, no I/O
    name_of_user.dirty(4)             # delete the key (after the data changed)
    name_of_user.key(4)               # "users.name:4" (plus the client's prefix)

On a miss the body runs in its own task, so a body that yields is batched too; its value is
written back with one ``set_many`` per round and kept in the request-local cache.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from .. import priming
from .. import request_roots as _roots
from ..batching import BatchItemBase
from ..decorators import AsyncDecorator
from ..futures import ConstFuture, FutureBase
from ..lowlevel import note_sync_call, task_contexts
from ..lowlevel import thread_state as _state
from ..request_roots import current_storage
from ..scheduler import get_active_task, get_scheduler
from .batch import COMPUTING, CachedItem, read_batch, thread_batches
from .keys import Keyword, check_namespace, encode_arg, make_key
from .request import MISSING, RequestScope, current_scope, scope_for_call, scope_in
from .serde import FLAG_CACHED

__all__ = ["CachedFunction"]

_T = TypeVar("_T")
_log = logging.getLogger("asynq.memcache")
_KEY_CACHE_LIMIT = 200_000

# What the scope memo holds as the creator of a root task: matches no task's creator.
_ROOT = object()


def _memo_key(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """``args`` if it can index the key memo, else None.

    Only exact ``int`` and ``str`` arguments are memoised: ``(1,) == (True,) == (1.0,)`` and
    ``0.0 == -0.0``, so a memo keyed by other values would hand one call another's key."""
    for arg in args:
        cls = type(arg)
        if cls is not int and cls is not str:
            return None
    return args


class CachedFunction(Generic[_T]):
    """A function whose results are cached in memcached under ``namespace``."""

    __name__: str
    __qualname__: str
    namespace: str

    def __init__(
        self,
        client: Any,
        fn: Callable[..., Any],
        namespace: str,
        ttl: int | None = None,
        key: Callable[..., Any] | None = None,
        stale_while_revalidate: bool = False,
        stale_ttl: int = 60,
    ) -> None:
        if isinstance(fn, CachedFunction):
            raise TypeError(
                f"{fn.__name__} is already cached under {fn.namespace!r}; apply "
                "@mc.cached(...) once"
            )
        if not callable(fn):
            raise TypeError(
                f"@mc.cached(...) expects a function, got {type(fn).__name__}: {fn!r}; write "
                "it on the line above a `def`"
            )
        if inspect.isgeneratorfunction(fn):
            raise TypeError(
                f"@mc.cached(...) got the generator function {fn.__qualname__}; decorate it "
                "with @asynq() first, below @mc.cached(...), so that its yields are batched"
            )
        if inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"@mc.cached(...) cannot cache `async def {fn.__qualname__}`; write a plain "
                "function or an @asynq() generator"
            )
        if key is not None and not callable(key):
            raise TypeError(
                f"cached(..., key=...) expects a function of the same arguments returning the "
                f"values to build the key from, got {type(key).__name__}: {key!r}"
            )
        self.client = client
        self.fn = fn
        self.namespace = check_namespace(namespace)
        self.ttl: int = client.default_ttl if ttl is None else ttl
        self.key_fn = key
        if not isinstance(stale_while_revalidate, bool):
            raise TypeError(
                f"stale_while_revalidate must be True or False, got "
                f"{type(stale_while_revalidate).__name__}: {stale_while_revalidate!r}"
            )
        #: After dirty(), readers get the old value (marked stale) while one of them
        #: recomputes it, instead of waiting for it (needs the client's leases).
        self.stale_while_revalidate = stale_while_revalidate
        self.stale_ttl = stale_ttl
        #: The body is an asynq function: a miss yields it instead of calling it.
        self.body_is_async = isinstance(fn, AsyncDecorator) or callable(getattr(fn, "asynq", None))
        target = getattr(fn, "fn", fn)
        try:
            self._signature: inspect.Signature | None = inspect.signature(target)
        except (TypeError, ValueError):
            self._signature = None
        self._keys: dict[tuple[Any, ...], str] = {}
        self._foreign_logged = -1e18  # when a foreign value under our keys was last logged
        self._prefix = client.key_prefix + self.namespace + ":"
        functools.update_wrapper(self, target)
        self._asynq = self._make_asynq()
        self.asynq = self._asynq  # type: ignore[method-assign]

    # -- keys ------------------------------------------------------------------------------

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The full memcached key of the call ``f(*args, **kwargs)``."""
        if not kwargs and _memo_key(args) is not None:
            cached_key = self._keys.get(args)
            if cached_key is not None:
                return cached_key
        return self._make_key(args, kwargs)

    def _make_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        values = self._key_values(args, kwargs)
        full = make_key(self.namespace, values, self.client.key_prefix)
        if not kwargs and _memo_key(args) is not None:
            if len(self._keys) >= _KEY_CACHE_LIMIT:
                self._keys.clear()
            self._keys[args] = full
        return full

    def _key_values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        if self.key_fn is not None:
            values = self.key_fn(*args, **kwargs)
            return values if isinstance(values, tuple) else (values,)
        signature = self._signature
        if signature is None:
            return args + tuple(Keyword(k, v) for k, v in sorted(kwargs.items()))
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            empty = inspect.Parameter.empty
            plain = signature.replace(
                parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
                return_annotation=empty,
            )
            raise TypeError(
                f"{self.__name__}{plain} was called with arguments that do not fit: {error}"
            ) from None
        bound.apply_defaults()
        out: list[Any] = []
        for name, value in bound.arguments.items():
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                out.extend(value)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                out.extend(Keyword(k, v) for k, v in sorted(value.items()))
            else:
                out.append(value)
        for value in out:
            encode_arg(value)  # a clear error for an unsupported argument, naming its type
        return tuple(out)

    # -- calls -----------------------------------------------------------------------------

    def asynq(self, *args: Any, **kwargs: Any) -> FutureBase[_T]:
        """The call as a future to yield: served from the request cache, memcached, or the
        body (its value then written back)."""
        return self._asynq(*args, **kwargs)  # pragma: no cover - replaced per instance

    def asyncio(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, _T]:
        """The call as a coroutine for ``await`` in asyncio code; it batches with all other asynq
        work awaited on the event loop (see ``asynq.asyncio_interop``)."""
        from ..asyncio_interop import resolve_in_asyncio

        return resolve_in_asyncio(self.asynq(*args, **kwargs))

    def _make_asynq(self) -> Callable[..., FutureBase[_T]]:
        """``f.asynq``, the hottest path of model code, as a closure over everything it reads
        (cheaper than attribute lookups on every call)."""
        keys_get = self._keys.get
        make_key = self._make_key
        compute_now = self._compute_now
        client = self.client
        tls = client.threads
        thread_state = _state
        roots = _roots
        item_class = CachedItem
        new_item = object.__new__
        join_batch = BatchItemBase.__init__
        no_contexts = task_contexts(None)
        missing = MISSING
        cached = self

        def asynq(*args: Any, **kwargs: Any) -> FutureBase[_T]:
            key = None
            if not kwargs:
                # The memo holds exact int and str arguments only (see _memo_key), inlined;
                # one argument (an id) is the usual call, checked without a loop.
                if len(args) == 1:
                    cls = type(args[0])
                    if cls is int or cls is str:
                        key = keys_get(args)
                else:
                    for arg in args:
                        cls = type(arg)
                        if cls is not int and cls is not str:
                            break
                    else:
                        key = keys_get(args)
            if key is None:
                key = make_key(args, kwargs)
            try:
                local = tls.state
            except AttributeError:
                local = thread_batches(client)
            batch = local.batch
            task = (
                thread_state.scheduler.active_task if batch is None else batch.scheduler.active_task
            )
            # The client's scope in the current request (scope_for_call(client)), remembered
            # for the running task: the usual call is another read of the task that read last.
            # The memo never holds None for a task, and ``generation`` also changes when a
            # request ends, so one identity test of each tells that the memo still holds.
            if task is local.memo_task and local.memo_generation is roots.generation:
                scope = local.memo_scope
                fresh = False
            elif (
                task is not None
                and task.creator is local.memo_creator
                and local.memo_generation is roots.generation
            ):
                # A sibling of the task that read last (same creator): same request.
                local.memo_task = task
                scope = local.memo_scope
                fresh = False
            else:
                generation = roots.generation
                scope, fresh = scope_for_call(client)
                if task is not None and not fresh:
                    local.memo_task = task
                    creator = task.creator
                    local.memo_creator = _ROOT if creator is None else creator
                    local.memo_scope = scope
                    local.memo_generation = generation
            values = scope.values
            value = values.get(key, values)
            if value is not values:
                if value is missing:
                    # A primed key that missed: computed once, however many tasks read it.
                    future = scope.inflight.get(key)
                    if future is not None:
                        return future
                    return compute_now(scope, key, args, kwargs)
                return ConstFuture(value)
            inflight = scope.inflight
            future = inflight.get(key)
            if future is not None:
                return future
            if batch is None:
                batch = read_batch(client)
            # CachedItem(batch, key, ...), inlined: the kernel's item set-up is the one call.
            item = new_item(item_class)
            join_batch(item, batch)
            item.key = key
            item.scope = scope
            item.cached = cached
            item.args = args
            item.kwargs = kwargs
            item.contexts = task.contexts if task is not None else no_contexts
            item.lease = None
            item.retry = None
            inflight[key] = item
            if fresh:
                scope.storage.close_with(item)
            return item

        asynq.__doc__ = CachedFunction.asynq.__doc__
        asynq.__qualname__ = f"{self.__qualname__}.asynq"
        return asynq

    def __call__(self, *args: Any, **kwargs: Any) -> _T:
        """Synchronous call (outside tasks: its own request unless a scope is open)."""
        if priming.reads_pending():
            priming.drive()
        task = _state.scheduler.active_task
        if task is not None:
            note_sync_call(self)  # counted, and logged under debug.options.DUMP_SYNC_CALLS
        elif not kwargs:
            # Fast path for legacy code: a value already in the request-local cache.
            storage = current_storage()
            values = None if storage is None else storage.values
            scope = None if values is None else values.get(self.client)
            if scope is not None and not scope.closed:
                key = self._keys.get(args) if _memo_key(args) is not None else None
                if key is not None:
                    value = scope.values.get(key, scope)
                    if value is not scope and value is not MISSING:
                        return value
        future = self.asynq(*args, **kwargs)
        try:
            return future.value()
        finally:
            # The call's own scope sent its write-backs when it ended; those of a request the
            # call ran in go with the request's next round or when it ends. Write-backs of
            # scopes that closed before their computations ended go out now.
            if task is None and not priming.driving():
                self.client.write_backs.send(confirm=True, current=False)

    def _compute_now(
        self, scope: RequestScope, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> FutureBase[_T]:
        """A key known to be missing: run the body without asking memcached again (with
        leases, ask once more for the lease that decides who computes it)."""
        task = get_active_task()
        leases = scope.leases
        lease = leases.pop(key, None) if leases else None
        if lease is not None and lease > 0:
            # The priming multi-get won this key's lease: compute and write back under it.
            item = CachedItem(
                COMPUTING,
                key,
                scope,
                self,
                args,
                kwargs,
                task_contexts(task),
            )
            item.lease = lease
            scope.inflight[key] = item
            item.start_compute(get_scheduler())
            return item
        if self.client.leases:
            item = CachedItem(
                read_batch(self.client),
                key,
                scope,
                self,
                args,
                kwargs,
                task_contexts(task),
            )
            scope.values.pop(key, None)
            scope.inflight[key] = item
            return item
        item = CachedItem(COMPUTING, key, scope, self, args, kwargs, task_contexts(task))
        scope.inflight[key] = item
        item.start_compute(get_scheduler())
        return item

    def store_computed(
        self, scope: RequestScope, key: str, value: Any, lease: int | None = None
    ) -> Any:
        """A computed value: queue its write-back (under ``lease`` when the client takes
        leases) and keep it for the request, as a read of memcached will return it (the value
        the caller gets)."""
        value = self.client.write_backs.queue(key, value, self.ttl, lease, scope)
        if not scope.closed:
            scope.values[key] = value
        return value

    def note_foreign(self, key: str) -> None:
        """A read of this function found a value it did not write under ``key``: count it in
        the client's ``stats.errors`` and log it (at most once per ``log_interval``)."""
        client = self.client
        client.stats.errors += 1
        now = time.monotonic()
        if now - self._foreign_logged >= client.log_interval:
            self._foreign_logged = now
            _log.warning(
                "asynq.memcache: the value under %s was not written by a cached function "
                "(another client stored plain bytes, flags 0, where cached functions write "
                "flags %d); %s treats it as a miss, recomputes and overwrites it (logged at "
                "most once per %.0f s per function)",
                key,
                FLAG_CACHED,
                self.__qualname__,
                client.log_interval,
            )

    # -- legacy priming and invalidation ---------------------------------------------------

    def prime(self, *args: Any, **kwargs: Any) -> None:
        """Record that ``f(*args)`` will be read soon (legacy priming): no I/O now; the key is
        fetched with the others in one multi-get when priming is driven (``asynq.priming``)."""
        key = self.key(*args, **kwargs)
        client = self.client
        scope: RequestScope | None
        if _state.scheduler.active_task is not None and priming.in_task():
            # Inside a running task the key joins the task's next round, in its scope.
            scope, _ = scope_for_call(client)
        else:
            storage = current_storage()
            values = None if storage is None else storage.values
            # scope_in(storage, client), whose usual answer is already in the request.
            scope = None if values is None else values.get(client)
            if scope is None and storage is not None:
                scope = scope_in(storage, client)
            if scope is None:
                # Outside any request: priming opens one, current on this thread until
                # priming.end_request().
                scope = scope_in(priming.open_request(), client)
        assert scope is not None  # the task's scope, or a request just opened
        if client.leases:
            # The priming read asks for this key's lease, for the call that computes it.
            if scope.leases is None:
                scope.leases = {}
            scope.leases.setdefault(key, -1)
        priming.record_key(scope, key, self)

    def dirty(self, *args: Any, **kwargs: Any) -> bool:
        """Delete the cached value of ``f(*args)`` (call it after the data changed); the next
        read computes it again. Returns whether memcached had it."""
        key = self.key(*args, **kwargs)
        client = self.client
        client.write_backs.send()
        scope = current_scope(client)
        if scope is not None:
            scope.values.pop(key, None)
            scope.inflight.pop(key, None)
        if self.stale_while_revalidate and client.leases:
            return client.pool.delete(key, stale_ttl=self.stale_ttl)
        return client.pool.delete(key)

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        raise TypeError(
            f"@mc.cached(...) on the method {self.__qualname__} is not supported: the instance "
            "cannot be part of a memcached key. Cache a module-level function of ids instead"
        )

    def __repr__(self) -> str:
        return f"<cached function {self.__qualname__} in {self.namespace!r} on {self.client!r}>"


priming.register_cached_type(CachedFunction)

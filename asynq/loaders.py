"""Batch any backend: a loader for multi-key backends, a concurrent batch for per-key calls.

Memcache is one backend; SQL (``WHERE id IN (...)``), Redis (``MGET``) and HTTP APIs have the same
problem. This module turns a plain function into batch items, so that the scheduler's rounds
apply to any backend without a hand-written ``BatchBase`` subclass.

``@loader()`` wraps a function that takes a list of keys and returns their values (a list in key
order, or a dict keyed by the keys passed). ``load_user(uid)`` loads one key synchronously;
``yield load_user.asynq(uid)`` adds the key to the loader's batch for the current round.

- Deduplication: a key requested several times in one round is passed to the batch function once,
  and every request gets the same value. This holds even with ``cache=False``.
- One call per round, or several with ``max_batch_size``: the round's keys are split into
  consecutive calls of at most that many keys, one after another, all in the same round.
- Per-key errors: an ``Exception`` instance in the results, or a key missing from a dict result
  (``MissingKeyError``), fails that key only.
- Whole-call errors: a batch function that raises, or that breaks the contract (wrong length, wrong
  type: ``LoaderContractError``), fails every key of that call and caches nothing.
- The cache remembers each loaded key's value, or its per-key error, for one *request*, so later
  requests of the key in that request need no call. A request is a ``with request_scope():``
  block if one is open on the thread; otherwise the top-level task (the end of the chain of
  creators of the running task): its cache is dropped when that task is done. A synchronous
  call outside any task is a request of its own. ``prime``, ``clear`` and ``clear_all`` act on
  the current request's cache.

``@concurrent_batch()`` wraps a blocking per-key function (an HTTP request, a boto3 call) for
backends that have no multi-get: a round's calls run on a bounded thread pool, so the round costs
about one call's latency per ``max_workers`` calls instead of the sum. The calls are submitted in
``_start_flush``, so two concurrent batches of the same round overlap, and their results are
collected (and set on the items) on the scheduler's thread in ``_flush``. Identical calls in one
round run once. ``timeout`` bounds each call from the moment it starts on a worker; a call that
exceeds it fails with ``ConcurrentCallTimeout`` (the thread cannot be stopped and finishes in the
background).

For a backend whose request must be built by hand (a pipelined protocol, priorities, a request
that mixes reads and writes), subclass ``BatchBase`` and ``BatchItemBase`` directly.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable, Coroutine, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError as PoolCancelledError
from concurrent.futures import Future as PoolFuture
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as PoolTimeoutError
from contextlib import contextmanager
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .batching import BatchBase, BatchingError, BatchItemBase
from .futures import ConstFuture, ErrorFuture, FutureBase
from .lowlevel import note_sync_call, short_repr, state_str
from .request_roots import RequestStorage, current_storage
from .scheduler import get_active_task

__all__ = [
    "ConcurrentCallTimeout",
    "ConcurrentFunction",
    "Loader",
    "LoaderContractError",
    "MissingKeyError",
    "concurrent_batch",
    "loader",
    "request_scope",
]

_K = TypeVar("_K")
_V = TypeVar("_V")
_T = TypeVar("_T")
_P = ParamSpec("_P")


class LoaderContractError(BatchingError):
    """A batch function returned something other than one value per key (a whole-call error)."""


class MissingKeyError(LookupError):
    """A dict returned by a batch function had no entry for this key (a per-key error)."""


class ConcurrentCallTimeout(TimeoutError):
    """A call of a ``@concurrent_batch()`` function did not return within its timeout."""


# -- request scopes --------------------------------------------------------------------------------

# The caches of one request: loader -> (cache key -> computed future), kept in the request's
# storage (``asynq.request_roots``), keyed by loader.
_Caches = dict[Any, Any]


def _request_caches() -> _Caches | None:
    """The caches of the current request (``request_roots.current_storage()``), or None
    outside any request (and once the request has ended)."""
    storage = current_storage()
    return None if storage is None else storage.values


@contextmanager
def request_scope() -> Iterator[None]:
    """One request for every loader on this thread: a fresh cache for the block, dropped at exit.

    Wrap the top-level calls that make up a request (e.g. in a request handler) in it, so that
    they share what they load. Without it, each top-level call is a request of its own. A
    scope opened inside another request (another ``request_scope()``, ``with mc.request():``,
    a web middleware's request) shares that request's cache.
    """
    if get_active_task() is not None:
        raise RuntimeError(
            f"request_scope() was entered inside the running task {get_active_task()!r}; a "
            "request scope is thread state and tasks interleave, so it must wrap the top-level "
            "synchronous call (e.g. in the request handler), not code inside an @asynq() function"
        )
    if current_storage() is not None:
        yield
        return
    with RequestStorage():
        yield


# -- the loader ------------------------------------------------------------------------------------


class _ThreadBatches:
    """One thread's active batch for one loader or concurrent function."""

    __slots__ = ("batch",)

    def __init__(self) -> None:
        self.batch: Any = None


class _LoaderItem(BatchItemBase):
    __slots__ = ("key", "cache_key", "caches")

    def __init__(
        self,
        batch: _LoaderBatch,
        key: Any,
        cache_key: Hashable,
        cache: dict[Hashable, FutureBase[Any]] | None,
    ) -> None:
        super().__init__(batch)
        self.key = key
        self.cache_key = cache_key
        # The caches of the requests that asked for this key: where its result is remembered.
        self.caches: list[dict[Hashable, FutureBase[Any]]] = [] if cache is None else [cache]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {short_repr(self.key, 40)} {state_str(self)}>"


class _LoaderBatch(BatchBase[_LoaderItem]):
    """The keys one loader collects in one round on one thread."""

    def __init__(self, loader: Loader[Any, Any], owner: _ThreadBatches) -> None:
        super().__init__()
        self.loader = loader
        self.owner = owner  # the owning thread's slot, so that any thread can switch it
        self.by_key: dict[Hashable, _LoaderItem] = {}

    def _try_switch_active_batch(self) -> None:
        if self.owner.batch is self:
            self.owner.batch = None  # the next load creates a fresh batch

    def _flush(self) -> None:
        items = self.items
        size = self.loader.max_batch_size or len(items)
        for start in range(0, len(items), size):
            self.loader._load_chunk(items[start : start + size])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.loader.__name__} {self._describe()}>"


class Loader(Generic[_K, _V]):
    """A per-key asynq function backed by a function that loads many keys at once.

    ``loader(key)`` returns the value synchronously; ``loader.asynq(key)`` returns a future to
    yield from an ``@asynq()`` function. See the module docstring for the semantics.
    """

    __name__: str
    __qualname__: str

    def __init__(
        self,
        batch_fn: Callable[[list[_K]], Sequence[_V] | Mapping[Any, _V]],
        *,
        max_batch_size: int | None = None,
        cache_key: Callable[[_K], Hashable] | None = None,
        cache: bool = True,
        name: str | None = None,
    ) -> None:
        _check_batch_fn(batch_fn, "Loader(batch_fn)")
        if max_batch_size is not None and (
            not isinstance(max_batch_size, int)
            or isinstance(max_batch_size, bool)
            or max_batch_size < 1
        ):
            raise ValueError(
                f"max_batch_size must be a positive int or None, got {max_batch_size!r}; use None "
                "to pass every key of a round in one call"
            )
        if cache_key is not None and not callable(cache_key):
            raise TypeError(
                f"cache_key must be a function of one key returning a hashable value, got "
                f"{type(cache_key).__name__}: {cache_key!r}"
            )
        _wrap(self, batch_fn, name)
        self.batch_fn = batch_fn
        self.max_batch_size = max_batch_size
        self.cache_key = cache_key
        self.cache_enabled = cache
        self._threads = threading.local()
        # A batch class named after the loader, so per-round statistics say which loader flushed.
        self._batch_cls: type[_LoaderBatch] = type(
            f"LoaderBatch[{self.__name__}]", (_LoaderBatch,), {"__slots__": ()}
        )

    # -- loading -------------------------------------------------------------------------------

    def asynq(self, key: _K) -> FutureBase[_V]:
        """A future for ``key``'s value: yield it from an ``@asynq()`` function."""
        # The hot path of every loader: the helpers below are inlined.
        cache_key: Any = key if self.cache_key is None else self.cache_key(key)
        cache: dict[Hashable, FutureBase[Any]] | None = None
        if self.cache_enabled:
            # _request_caches() and _current_cache(), inlined.
            storage = current_storage()
            caches = None if storage is None else storage.values
            if caches is not None:
                cache = caches.get(self)
                if cache is None:
                    cache = caches[self] = {}
        try:
            slot: _ThreadBatches = self._threads.slot
        except AttributeError:
            slot = self._thread_slot()
        try:
            if cache is not None:
                hit = cache.get(cache_key)
                if hit is not None:
                    return hit
            batch = slot.batch
            if batch is None:
                batch = slot.batch = self._batch_cls(self, slot)
            item = batch.by_key.get(cache_key)
        except TypeError:
            self._check_hashable(key, cache_key)
            raise
        if item is None:
            item = batch.by_key[cache_key] = _LoaderItem(batch, key, cache_key, cache)
        elif cache is not None:
            known = item.caches
            if not known or known[0] is not cache:  # by identity: caches are dicts
                if all(other is not cache for other in known):
                    known.append(cache)  # another request joined this round's load of the key
        return item

    def __call__(self, key: _K) -> _V:
        """Load ``key`` now (a round of its own) and return its value or raise its error."""
        if get_active_task() is not None:
            note_sync_call(self)
        return self.asynq(key).value()

    def asyncio(self, key: _K) -> Coroutine[Any, Any, _V]:
        """A coroutine that loads ``key``, for ``await`` in asyncio code."""
        from .asyncio_interop import resolve_in_asyncio

        return resolve_in_asyncio(self.asynq(key))

    # -- the cache -----------------------------------------------------------------------------

    def prime(self, key: _K, value: _V | Exception) -> None:
        """Remember ``value`` (or an ``Exception`` instance: an error) for ``key`` in the current
        request, without a call.

        Like DataLoader, priming never replaces what is already cached or being loaded in the
        current round: ``clear(key)`` first to overwrite.
        """
        cache_key = self._cache_key_of(key)
        if not self.cache_enabled:
            raise RuntimeError(
                f"{self.__name__}.prime({short_repr(key, 40)}) on a loader created with "
                "cache=False has nowhere to put the value; create it with cache=True"
            )
        cache = self._current_cache()
        if cache is None:
            raise RuntimeError(
                f"{self.__name__}.prime({short_repr(key, 40)}) was called outside any request, "
                "where nothing is cached: a loader's cache lives for one top-level call or one "
                "`with request_scope():` block. Prime inside the @asynq() function that loads "
                "the key, or open request_scope() around both"
            )
        batch = self._thread_slot().batch
        if batch is not None and cache_key in batch.by_key:
            return
        if cache_key not in cache:
            cache[cache_key] = (
                ErrorFuture(value) if isinstance(value, Exception) else ConstFuture(value)
            )

    def clear(self, key: _K) -> None:
        """Forget ``key``'s cached value or error in the current request, so that the next
        request of it calls the batch function again."""
        cache_key = self._cache_key_of(key)
        cache = self._current_cache() if self.cache_enabled else None
        if cache is not None:
            cache.pop(cache_key, None)

    def clear_all(self) -> None:
        """Forget every value and error this loader cached in the current request."""
        cache = self._current_cache() if self.cache_enabled else None
        if cache is not None:
            cache.clear()

    # -- internals -----------------------------------------------------------------------------

    def _thread_slot(self) -> _ThreadBatches:
        threads = self._threads
        try:
            slot: _ThreadBatches = threads.slot
        except AttributeError:
            slot = threads.slot = _ThreadBatches()
        return slot

    def _current_cache(self) -> dict[Hashable, FutureBase[Any]] | None:
        """This loader's cache in the current request (None outside any request)."""
        caches = _request_caches()
        if caches is None:
            return None
        cache = caches.get(self)
        if cache is None:
            cache = caches[self] = {}
        return cache

    def _cache_key_of(self, key: _K) -> Hashable:
        cache_key: Any = key if self.cache_key is None else self.cache_key(key)
        self._check_hashable(key, cache_key)
        return cache_key

    def _check_hashable(self, key: object, cache_key: object) -> None:
        try:
            hash(cache_key)
        except TypeError:
            if self.cache_key is None:
                raise TypeError(
                    f"{self.__name__}.asynq() got the unhashable key {short_repr(key, 60)} "
                    f"({type(key).__name__}); keys are deduplicated and cached by hash. Pass "
                    f"cache_key= to map each key to a hashable one, e.g. "
                    f"@loader(cache_key=lambda k: tuple(sorted(k.items())))"
                ) from None
            raise TypeError(
                f"{self.__name__}'s cache_key function returned the unhashable "
                f"{type(cache_key).__name__} {short_repr(cache_key, 60)} for key "
                f"{short_repr(key, 60)}; it must return a hashable value (a str, int or tuple)"
            ) from None

    def _load_chunk(self, items: list[_LoaderItem]) -> None:
        """One call of the batch function for ``items``; sets every item; caches per-key results."""
        keys = [item.key for item in items]
        try:
            result = self.batch_fn(keys)
            values = self._match(keys, result)
        except Exception as error:  # noqa: BLE001 - the call's keys carry its failure
            for item in items:
                item.set_error(error)
            return
        for item, value in zip(items, values, strict=True):
            if isinstance(value, Exception):
                item.set_error(value)
                future: FutureBase[Any] = ErrorFuture(value)
            else:
                item.set_value(value)
                future = ConstFuture(value)
            for cache in item.caches:
                cache[item.cache_key] = future

    def _match(self, keys: list[Any], result: object) -> list[Any]:
        """The values of ``result`` in key order; raise ``LoaderContractError`` if it cannot be."""
        if isinstance(result, Mapping):
            values: list[Any] = []
            for key in keys:
                try:
                    present = key in result
                except TypeError:
                    raise LoaderContractError(
                        f"{self.__name__}'s batch function returned a dict, but the keys it was "
                        f"passed are unhashable (e.g. {short_repr(key, 60)}, a "
                        f"{type(key).__name__}), so they cannot be looked up in it; return a list "
                        "of values in key order instead"
                    ) from None
                values.append(result[key] if present else self._missing(key, result))
            return values
        if isinstance(result, Sequence) and not isinstance(result, (str, bytes, bytearray)):
            if len(result) != len(keys):
                raise LoaderContractError(
                    f"{self.__name__}'s batch function returned a {type(result).__name__} of "
                    f"{len(result)} value(s) for {len(keys)} key(s); expected exactly one value "
                    f"per key, in the order of the keys. Keys: {short_repr(keys, 120)}; returned: "
                    f"{short_repr(result, 120)}. Fix: put a value at each key's position (None, "
                    "or an Exception instance for a key that failed), or return a dict keyed by "
                    "the keys passed in"
                )
            return list(result)
        raise LoaderContractError(
            f"{self.__name__}'s batch function returned {_describe_value(result)} for "
            f"{len(keys)} key(s) {short_repr(keys, 80)}; expected a list of {len(keys)} value(s) "
            f"in key order, or a dict mapping each key to its value. "
            f"Fix: {_fix_for(result)}"
        )

    def _missing(self, key: Any, result: Mapping[Any, Any]) -> MissingKeyError:
        hint = ""
        for other in result:
            if other != key and str(other) == str(key):
                hint = (
                    f"; it has {other!r} ({type(other).__name__}), but the key passed was "
                    f"{key!r} ({type(key).__name__}): return the keys as they were passed"
                )
                break
        return MissingKeyError(
            f"{self.__name__}: the batch function's dict has no entry for key "
            f"{short_repr(key, 60)}{hint}"
        )

    def __repr__(self) -> str:
        return f"<Loader {self.__module__}.{self.__qualname__}>"


def _wrap(wrapper: Any, fn: object, name: str | None) -> None:
    """Give ``wrapper`` the name, doc and module of ``fn`` (or ``name``), like functools.wraps."""
    functools.update_wrapper(wrapper, fn, updated=())  # type: ignore[arg-type]
    if name is None:
        name = getattr(fn, "__name__", None) or type(fn).__name__
        wrapper.__qualname__ = getattr(fn, "__qualname__", name)
    else:
        wrapper.__qualname__ = name
    wrapper.__name__ = name


def _describe_value(value: object) -> str:
    if value is None:
        return "None"
    if inspect.isgenerator(value):
        return "a generator"
    if isinstance(value, FutureBase):
        return f"a future ({value!r})"
    noun = type(value).__name__
    article = "an" if noun[:1].lower() in "aeiou" else "a"
    return f"{article} {noun} ({short_repr(value, 60)})"


def _fix_for(value: object) -> str:
    if value is None:
        return "the function returned nothing; end it with `return values`"
    if inspect.isgenerator(value) or inspect.isgeneratorfunction(value):
        return (
            "the batch function must return the values, not yield them; collect them with "
            "`return [...]` (a batch function is a plain function, not an @asynq() generator)"
        )
    if isinstance(value, (set, frozenset)):
        return "a set has no order, so values cannot be matched to keys; return a list or a dict"
    if isinstance(value, (str, bytes, bytearray)):
        return "wrap a single value in a list, one per key"
    if isinstance(value, FutureBase):
        return (
            "a batch function runs during a flush and cannot wait on asynq futures; return values"
        )
    return "convert the result, e.g. `return list(rows)` or `return dict(rows)`"


def _check_batch_fn(fn: object, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} expects a function, got {type(fn).__name__}: {short_repr(fn, 60)}")
    if hasattr(fn, "asynq"):
        raise TypeError(
            f"{what} got the asynq function {getattr(fn, '__name__', fn)!r}; the function that "
            "does the request must be a plain function (it runs during a flush, where nothing can "
            "be yielded)"
        )
    target = getattr(fn, "__func__", fn)
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        raise TypeError(
            f"{what} cannot use `async def {getattr(target, '__qualname__', target)}`: it is "
            "called synchronously during a flush. Write a plain `def` (use @concurrent_batch() to "
            "run blocking per-key calls in parallel)"
        )


def _reject_bare_use(decorator: str, first: object) -> None:
    if first is not None:
        name = getattr(first, "__name__", repr(first))
        raise TypeError(
            f"{decorator} was applied directly to {name}; it takes options, so write "
            f"`@{decorator}()` with parentheses"
        )


def loader(
    _fn: None = None,
    *,
    max_batch_size: int | None = None,
    cache_key: Callable[[Any], Hashable] | None = None,
    cache: bool = True,
    name: str | None = None,
) -> _LoaderFactory:
    """Decorate a function ``keys -> values`` (a list in key order, or a dict) as a ``Loader``.

    ``max_batch_size``: at most this many keys per call (several calls in the same round).
    ``cache_key``: maps a key to the hashable value it is deduplicated and cached by.
    ``cache``: remember results across rounds (``False``: deduplicate within a round only).
    """
    _reject_bare_use("loader", _fn)

    def decorate(batch_fn: Callable[..., Any]) -> Loader[Any, Any]:
        _check_batch_fn(batch_fn, "@loader()")
        return Loader(
            batch_fn, max_batch_size=max_batch_size, cache_key=cache_key, cache=cache, name=name
        )

    return decorate  # type: ignore[return-value]


class _LoaderFactory:
    """Typing only: what ``loader(...)`` returns."""

    @overload
    def __call__(self, fn: Callable[[list[_K]], Mapping[Any, _V]]) -> Loader[_K, _V]: ...
    @overload
    def __call__(self, fn: Callable[[list[_K]], Sequence[_V]]) -> Loader[_K, _V]: ...
    def __call__(self, fn: Callable[[list[_K]], Any]) -> Loader[_K, Any]:
        raise NotImplementedError


# -- the concurrent batch --------------------------------------------------------------------------


class _CallItem(BatchItemBase):
    __slots__ = ("args", "kwargs", "pool_future", "started_at", "returned", "abandoned")

    def __init__(self, batch: _ConcurrentBatch, args: tuple[Any, ...], kwargs: dict[str, Any]):
        super().__init__(batch)
        self.args = args
        self.kwargs = kwargs
        self.pool_future: PoolFuture[Any] | None = None
        # Written by the worker thread, read by the flushing thread under the function's lock.
        self.started_at: float | None = None
        self.returned = False
        self.abandoned = False  # timed out: the flush stopped waiting for it

    def call_str(self) -> str:
        parts = [short_repr(a, 40) for a in self.args]
        parts += [f"{k}={short_repr(v, 40)}" for k, v in self.kwargs.items()]
        return f"({', '.join(parts)})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.call_str()} {state_str(self)}>"


class _ConcurrentBatch(BatchBase[_CallItem]):
    """The calls one concurrent function collects in one round on one thread."""

    def __init__(self, function: ConcurrentFunction[Any, Any], owner: _ThreadBatches) -> None:
        super().__init__()
        self.function = function
        self.owner = owner
        self.by_call: dict[Hashable, _CallItem] = {}

    def _try_switch_active_batch(self) -> None:
        if self.owner.batch is self:
            self.owner.batch = None

    def get_priority(self) -> tuple[int, int]:
        """Flush after the round's synchronous batches: they run while these calls are in flight."""
        return (-1, 0)

    def _start_flush(self) -> None:
        function = self.function
        submit = function._executor().submit
        run = function._run_call
        for item in self.items:
            if not item.is_computed():
                item.pool_future = submit(run, item)

    def _flush(self) -> None:
        self.function._collect(self.items)

    def _cancel(self) -> None:
        for item in self.items:
            if item.pool_future is not None:
                item.pool_future.cancel()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.function.__name__} {self._describe()}>"


class ConcurrentFunction(Generic[_P, _T]):
    """A blocking per-key function whose calls in one round run concurrently on a thread pool.

    ``f(x)`` calls it (on the pool, with the timeout); ``yield f.asynq(x)`` adds the call to the
    round's batch. See the module docstring for the semantics.
    """

    __name__: str
    __qualname__: str

    def __init__(
        self,
        fn: Callable[_P, _T],
        *,
        max_workers: int = 16,
        timeout: float | None = None,
        name: str | None = None,
    ) -> None:
        _check_batch_fn(fn, "ConcurrentFunction(fn)")
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive int, got {max_workers!r}")
        if timeout is not None and (
            not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0
        ):
            raise ValueError(
                f"timeout must be a positive number of seconds or None (wait as long as the call "
                f"takes), got {timeout!r}"
            )
        _wrap(self, fn, name)
        self.fn = fn
        self.max_workers = max_workers
        self.timeout = timeout
        self._pool: ThreadPoolExecutor | None = None
        self._threads = threading.local()
        # Guards the calls' progress fields (started_at, returned, abandoned) and the counters;
        # notified when a call starts while a flush waits for one to start, and when _hung grows.
        self._progress = threading.Condition()
        self._hung = 0  # calls that timed out and still hold a worker
        self._start_waiters = 0  # flushes waiting for a queued call to start
        self._batch_cls: type[_ConcurrentBatch] = type(
            f"ConcurrentBatch[{self.__name__}]", (_ConcurrentBatch,), {"__slots__": ()}
        )

    def asynq(self, *args: _P.args, **kwargs: _P.kwargs) -> FutureBase[_T]:
        """A future for the call's result: yield it from an ``@asynq()`` function."""
        threads = self._threads
        try:
            slot: _ThreadBatches = threads.slot
        except AttributeError:
            slot = threads.slot = _ThreadBatches()
        batch = slot.batch
        if batch is None:
            batch = slot.batch = self._batch_cls(self, slot)
        call_key: Hashable = (args, tuple(sorted(kwargs.items())))
        try:
            item = batch.by_call.get(call_key)
        except TypeError:  # unhashable arguments: not deduplicated
            return _CallItem(batch, args, kwargs)
        if item is None:
            item = batch.by_call[call_key] = _CallItem(batch, args, kwargs)
        return item

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Make the call now, on the pool and with the timeout, and return its result."""
        if get_active_task() is not None:
            note_sync_call(self)
        return self.asynq(*args, **kwargs).value()

    def asyncio(self, *args: _P.args, **kwargs: _P.kwargs) -> Coroutine[Any, Any, _T]:
        """A coroutine that makes the call, for ``await`` in asyncio code."""
        from .asyncio_interop import resolve_in_asyncio

        return resolve_in_asyncio(self.asynq(*args, **kwargs))

    def shutdown(self, wait: bool = True) -> None:
        """Stop the thread pool (a later call starts a new one)."""
        with self._progress:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)

    # -- internals -----------------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._progress:
                pool = self._pool
                if pool is None:
                    pool = self._pool = ThreadPoolExecutor(
                        self.max_workers, thread_name_prefix=f"asynq-{self.__name__}"
                    )
        return pool

    def _run_call(self, item: _CallItem) -> Any:
        """Runs on a worker: the call itself, with its start and end reported to the flush."""
        progress = self._progress
        with progress:
            item.started_at = time.monotonic()
            if self._start_waiters:
                progress.notify_all()
        try:
            return self.fn(*item.args, **item.kwargs)
        finally:
            with progress:
                item.returned = True
                if item.abandoned:
                    self._hung -= 1

    def _collect(self, items: list[_CallItem]) -> None:
        """On the scheduler's thread: wait for each call in turn and set its item."""
        timeout = self.timeout
        for item in items:
            if item.is_computed():
                continue
            if item.pool_future is None:
                item.set_error(BatchingError(f"{item!r} was never submitted to the pool"))
            elif timeout is None:
                _wait_for(item.pool_future, None)
                _set_from_pool(item, item.pool_future)
            else:
                self._collect_with_timeout(item, item.pool_future, timeout)

    def _collect_with_timeout(
        self, item: _CallItem, pool_future: PoolFuture[Any], timeout: float
    ) -> None:
        """Wait for one call: until it starts, then at most ``timeout`` from its start."""
        progress = self._progress
        while True:
            started = item.started_at
            if started is None:
                with progress:
                    if item.started_at is None and not pool_future.done():
                        # Queued behind other calls. If every worker is held by a call that timed
                        # out, it may never start: fail it now instead of waiting forever.
                        if self._hung >= self.max_workers and pool_future.cancel():
                            item.set_error(self._saturated_error(item))
                            return
                        self._start_waiters += 1
                        try:
                            progress.wait()
                        finally:
                            self._start_waiters -= 1
                        continue
                if item.started_at is None:  # done without starting: cancelled by shutdown()
                    _set_from_pool(item, pool_future)
                    return
                continue
            remaining = started + timeout - time.monotonic()
            if _wait_for(pool_future, max(remaining, 0.0)):
                _set_from_pool(item, pool_future)
                return
            with progress:
                if not item.returned:
                    item.abandoned = True
                    self._hung += 1
                    progress.notify_all()  # flushes waiting on queued calls re-check _hung
                    timed_out = True
                else:
                    timed_out = False  # it returned at the deadline: take its result
            if timed_out:
                item.set_error(self._timeout_error(item))
                return

    def _timeout_error(self, item: _CallItem) -> ConcurrentCallTimeout:
        return ConcurrentCallTimeout(
            f"{self.__name__}{item.call_str()} did not return within timeout={self.timeout} s; "
            "its worker thread keeps running it until it returns (Python cannot stop a thread). "
            "Give the call its own timeout (e.g. requests' timeout=, botocore's read_timeout) "
            "or raise timeout="
        )

    def _saturated_error(self, item: _CallItem) -> ConcurrentCallTimeout:
        return ConcurrentCallTimeout(
            f"{self.__name__}{item.call_str()} could not start: all {self.max_workers} worker(s) "
            f"are held by calls that exceeded timeout={self.timeout} s and have not returned. "
            "Give the call its own timeout so that workers come back, or raise max_workers="
        )

    def __repr__(self) -> str:
        return f"<ConcurrentFunction {self.__module__}.{self.__qualname__}>"


def _wait_for(pool_future: PoolFuture[Any], timeout: float | None) -> bool:
    """Wait until ``pool_future`` is done or cancelled (True), or ``timeout`` passes (False).

    Not ``concurrent.futures.wait``: it never returns for a future cancelled by
    ``shutdown(cancel_futures=True)``, which no worker will ever pick up to notify.
    """
    try:
        pool_future.exception(timeout)
    except PoolCancelledError:
        return True
    except PoolTimeoutError:
        return False
    return True


def _set_from_pool(item: _CallItem, pool_future: PoolFuture[Any]) -> None:
    if pool_future.cancelled():
        item.set_error(
            BatchingError(
                f"the call {item.call_str()} was cancelled before it ran (its pool was shut down)"
            )
        )
        return
    error = pool_future.exception()
    if error is not None:
        item.set_error(error)
    else:
        item.set_value(pool_future.result())


class _ConcurrentFactory:
    """Typing only: what ``concurrent_batch(...)`` returns."""

    def __call__(self, fn: Callable[_P, _T]) -> ConcurrentFunction[_P, _T]:
        raise NotImplementedError


def concurrent_batch(
    _fn: None = None,
    *,
    max_workers: int = 16,
    timeout: float | None = None,
    name: str | None = None,
) -> _ConcurrentFactory:
    """Decorate a blocking per-key function so that a round's calls run concurrently.

    ``max_workers``: the size of the function's thread pool (at most that many calls at once).
    ``timeout``: seconds each call may run once started; ``ConcurrentCallTimeout`` past it.
    """
    _reject_bare_use("concurrent_batch", _fn)

    def decorate(fn: Callable[_P, _T]) -> ConcurrentFunction[_P, _T]:
        _check_batch_fn(fn, "@concurrent_batch()")
        return ConcurrentFunction(fn, max_workers=max_workers, timeout=timeout, name=name)

    return decorate  # type: ignore[return-value]

"""Tools for asynq code: the batched counterparts of ``map``, ``filter``, ``sorted``, ``max``...,
caches and deduplication that share in-flight work, retries, timers and event hooks.

The functional tools take asynq functions (their calls for all elements are yielded together, so
they batch into one round) or plain callables (called directly). The caching decorators take an
asynq function and return one: ``f(x)``, ``f.asynq(x)``, ``f.asyncio(x)`` and methods all work.

A cache or a ``deduplicate`` hands every caller that arrives while a computation is in flight the
same task, so concurrent callers never run the body twice. Tasks belong to one thread's scheduler,
so in-flight tasks are shared per thread; finished values are shared by all threads.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable
from types import TracebackType
from typing import Any, TypeVar

from qcore.events import EventHook

from .asyncio_interop import check_sync_call, from_awaitable, is_asyncio_mode
from .contexts import AsyncContext
from .decorators import AsyncProxyDecorator, async_call, asynq, get_async_fn, make_async_decorator
from .futures import ConstFuture, FutureBase
from .lowlevel import short_repr

__all__ = [
    "amap",
    "afilter",
    "afilterfalse",
    "asorted",
    "amax",
    "amin",
    "asift",
    "acached_per_instance",
    "alru_cache",
    "alazy_constant",
    "aretry",
    "call_with_context",
    "deduplicate",
    "DeduplicateDecorator",
    "AsyncTimer",
    "AsyncEventHook",
    "is_asyncio_mode",
]

_T = TypeVar("_T")
_U = TypeVar("_U")
_F = TypeVar("_F", bound=Callable[..., Any])
_Gen = Generator[Any, Any, _T]

_MISSING: Any = object()


# -- helpers -------------------------------------------------------------------------------------


def _future_form(fn: object, tool: str, role: str) -> Callable[..., FutureBase[Any]] | None:
    """``fn``'s future-returning form if it is an asynq function, None for a plain callable."""
    async_fn = get_async_fn(fn)
    if async_fn is not None:
        return async_fn
    if callable(fn):
        return None
    raise TypeError(
        f"{tool}() expects a function as {role}, got {type(fn).__name__}: {short_repr(fn, 60)}; "
        "pass an @asynq() function (its calls for all elements are batched together) or any "
        "callable"
    )


def _require_asynq_fn(fn: object, decorator: str) -> Callable[..., FutureBase[Any]]:
    async_fn = get_async_fn(fn)
    if async_fn is not None:
        return async_fn
    name = getattr(fn, "__qualname__", None) or short_repr(fn, 60)
    if callable(fn):
        fix = f"put {decorator} above @asynq(): `{decorator}` then `@asynq()` then `def {name}`"
    else:
        fix = f"write {decorator} on the line above an @asynq() function"
    raise TypeError(
        f"{decorator} expects an asynq function (decorated with @asynq() or @async_proxy()), got "
        f"{type(fn).__name__}: {name}; {fix}"
    )


def _key_builder(fn: Any, skip_first: bool) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    """A function of (args, kwargs) giving the same key for every spelling of one call:
    ``f(1)``, ``f(1, 2)`` with default 2, ``f(x=1)``."""
    target = getattr(fn, "fn", fn)
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return _plain_key
    params = list(signature.parameters.values())
    if skip_first and params:
        params = params[1:]
    signature = signature.replace(parameters=params)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    count = len(params) if all(p.kind in positional for p in params) else -1
    var_keyword = {p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD}

    def key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not kwargs and len(args) == count:
            return args
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return _plain_key(args, kwargs)  # a wrong call: the function raises its own error
        bound.apply_defaults()
        return tuple(
            tuple(sorted(value.items())) if name in var_keyword else value
            for name, value in bound.arguments.items()
        )

    return key


def _plain_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return (args, tuple(sorted(kwargs.items()))) if kwargs else args


def _checked_key(
    key: Any, tool: str, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        hash(key)
    except TypeError:
        call = ", ".join(
            [short_repr(a, 40) for a in args]
            + [f"{k}={short_repr(v, 40)}" for k, v in kwargs.items()]
        )
        name = getattr(fn, "__qualname__", None) or short_repr(fn, 40)
        raise TypeError(
            f"{tool}: {name}({call}) has an unhashable argument, and calls are matched by their "
            "arguments; pass hashable values (a tuple instead of a list, a frozenset instead of a "
            "set)"
            + (
                ", or give a keygetter that builds a hashable key"
                if tool == "@deduplicate()"
                else ""
            )
        ) from None
    return key


class _InFlight:
    """Futures still being computed, by key, for the calling thread (tasks never cross threads)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def tasks(self) -> dict[Any, FutureBase[Any]]:
        tasks: dict[Any, FutureBase[Any]] | None = getattr(self._local, "tasks", None)
        if tasks is None:
            tasks = self._local.tasks = {}
        return tasks

    def get_or_start(
        self,
        key: Any,
        start: Callable[[], FutureBase[Any]],
        on_value: Callable[[Any], None] | None = None,
    ) -> FutureBase[Any]:
        """The in-flight future for ``key``, or a new one from ``start()``; ``on_value(value)``
        runs when a new one succeeds."""
        tasks = self.tasks()
        current = tasks.get(key)
        if current is not None and not getattr(current, "running", False):
            return current
        # A task that is running asked for its own key (a synchronous call in its body): waiting
        # for itself would deadlock, so that caller gets its own, untracked task.
        future = start()
        if future.is_computed():
            if future.error() is None and on_value is not None:
                on_value(future.value())
            return future
        if current is None:
            tasks[key] = future

        def done(computed: FutureBase[Any]) -> None:
            if tasks.get(key) is computed:
                del tasks[key]
            if computed.error() is None and on_value is not None:
                on_value(computed.value())

        future.on_computed.subscribe(done)
        return future

    def discard(self, key: Any) -> None:
        self.tasks().pop(key, None)


# -- functional tools ------------------------------------------------------------------------------


@asynq()
def amap(function: Callable[[_T], _U], sequence: Iterable[_T]) -> _Gen[list[_U]]:
    """``list(map(function, sequence))`` with an asynq ``function``: all calls in one batch."""
    async_fn = _future_form(function, "amap", "its first argument")
    if async_fn is None:
        return [function(item) for item in sequence]
    return (yield [async_fn(item) for item in sequence])


@asynq()
def afilter(function: Callable[[_T], Any] | None, sequence: Iterable[_T]) -> _Gen[list[_T]]:
    """``list(filter(function, sequence))`` with an asynq ``function`` (None: keep truthy items)."""
    items = list(sequence)
    if function is None:
        return [item for item in items if item]
    async_fn = _future_form(function, "afilter", "its first argument")
    if async_fn is None:
        return [item for item in items if function(item)]
    verdicts = yield [async_fn(item) for item in items]
    return [item for item, keep in zip(items, verdicts, strict=True) if keep]


@asynq()
def afilterfalse(function: Callable[[_T], Any] | None, sequence: Iterable[_T]) -> _Gen[list[_T]]:
    """``list(itertools.filterfalse(function, sequence))`` with an asynq ``function``."""
    items = list(sequence)
    if function is None:
        return [item for item in items if not item]
    async_fn = _future_form(function, "afilterfalse", "its first argument")
    if async_fn is None:
        return [item for item in items if not function(item)]
    verdicts = yield [async_fn(item) for item in items]
    return [item for item, keep in zip(items, verdicts, strict=True) if not keep]


@asynq()
def asorted(
    iterable: Iterable[_T], key: Callable[[_T], Any] | None = None, reverse: bool = False
) -> _Gen[list[_T]]:
    """``sorted(iterable, key=key, reverse=reverse)`` with an asynq ``key``; stable like sorted."""
    items = list(iterable)
    if key is None:
        return sorted(items, reverse=reverse)  # type: ignore[type-var]
    async_key = _future_form(key, "asorted", "key=")
    if async_key is None:
        return sorted(items, key=key, reverse=reverse)
    keys = yield [async_key(item) for item in items]
    order = sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)
    return [items[i] for i in order]


def _extremum_items(tool: str, args: tuple[Any, ...], default: Any) -> list[Any]:
    if not args:
        raise TypeError(f"{tool}() expected at least 1 argument, got 0")
    if len(args) > 1:
        if default is not _MISSING:
            raise TypeError(
                f"Cannot specify a default for {tool}() with multiple positional arguments; "
                f"write {tool}([a, b, ...], default=...) or drop default="
            )
        return list(args)
    try:
        return list(args[0])
    except TypeError:
        raise TypeError(
            f"{tool}() got a single argument that is not iterable: {type(args[0]).__name__} "
            f"{short_repr(args[0], 60)}; pass an iterable ({tool}(values)) or several values "
            f"({tool}(a, b))"
        ) from None


@asynq()
def amax(*args: Any, key: Callable[[Any], Any] | None = None, default: Any = _MISSING) -> _Gen[Any]:
    """``max(...)`` with an asynq ``key``: the first item with the largest key."""
    return (yield from _extremum("amax", args, key, default, True))


@asynq()
def amin(*args: Any, key: Callable[[Any], Any] | None = None, default: Any = _MISSING) -> _Gen[Any]:
    """``min(...)`` with an asynq ``key``: the first item with the smallest key."""
    return (yield from _extremum("amin", args, key, default, False))


def _extremum(tool: str, args: tuple[Any, ...], key: Any, default: Any, largest: bool) -> _Gen[Any]:
    items = _extremum_items(tool, args, default)
    if not items:
        if default is not _MISSING:
            return default
        raise ValueError(
            f"{tool}() arg is an empty sequence; pass default= for a value to return instead"
        )
    if key is None:
        return max(items) if largest else min(items)
    async_key = _future_form(key, tool, "key=")
    if async_key is None:
        keys = [key(item) for item in items]
    else:
        keys = yield [async_key(item) for item in items]
    best = 0
    for index in range(1, len(items)):
        if (keys[index] > keys[best]) if largest else (keys[index] < keys[best]):
            best = index
    return items[best]


@asynq()
def asift(pred: Callable[[_T], Any], items: Iterable[_T]) -> _Gen[tuple[list[_T], list[_T]]]:
    """Split ``items`` into (those ``pred`` accepts, those it rejects), keeping their order."""
    items = list(items)
    async_pred = _future_form(pred, "asift", "its first argument")
    if async_pred is None:
        verdicts = [pred(item) for item in items]
    else:
        verdicts = yield [async_pred(item) for item in items]
    accepted = [item for item, ok in zip(items, verdicts, strict=True) if ok]
    rejected = [item for item, ok in zip(items, verdicts, strict=True) if not ok]
    return accepted, rejected


@asynq()
def call_with_context(context: Any, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _Gen[_T]:
    """Call ``fn(*args, **kwargs)`` inside ``with context:``, where siblings run outside it.

    ``important, other = yield get_important.asynq(x), call_with_context.asynq(ctx, get_other, x)``
    An ``AsyncContext`` is paused whenever the call's tasks are switched out.
    """
    if not (hasattr(context, "__enter__") and hasattr(context, "__exit__")):
        raise TypeError(
            f"call_with_context() expects a context manager as its first argument, got "
            f"{type(context).__name__}: {short_repr(context, 60)}; the call order is "
            "call_with_context(context, fn, *args, **kwargs)"
        )
    async_fn = _future_form(fn, "call_with_context", "its second argument")
    with context:
        if async_fn is None:
            return fn(*args, **kwargs)
        return (yield async_fn(*args, **kwargs))


# -- caching and deduplication -------------------------------------------------------------------


def acached_per_instance() -> Callable[[_F], _F]:
    """Cache an asynq method's results per instance and arguments.

    The cache lives outside the instance (so pickling skips it) and dies with it: entries are
    dropped when the instance is garbage-collected. Calls that arrive while the first is still
    computing share its task; a failed call is not cached. Instances must support weak references.
    """

    def decorator(fn: _F) -> _F:
        async_fn = _require_asynq_fn(fn, "@acached_per_instance()")
        key_of = _key_builder(fn, skip_first=True)
        # id(instance) -> (weak reference to the instance, {arguments key: value})
        cache: dict[int, tuple[weakref.ref[Any], dict[Any, Any]]] = {}
        in_flight = _InFlight()

        def values_of(instance: Any) -> dict[Any, Any]:
            ident = id(instance)
            slot = cache.get(ident)
            if slot is not None and slot[0]() is instance:
                return slot[1]
            try:
                ref: weakref.ref[Any] = weakref.ref(instance, _Dropper(cache, ident))
            except TypeError:
                cls = type(instance).__name__
                fix = (
                    f"{cls} has __slots__ without '__weakref__': add '__weakref__' to its __slots__"
                    if hasattr(type(instance), "__slots__")
                    else f"{cls} instances cannot be weakly referenced: cache in a wrapper object"
                )
                raise TypeError(
                    f"@acached_per_instance() on {fn.__qualname__} needs instances that support "
                    f"weak references, so that the cache dies with them; {fix}"
                ) from None
            values: dict[Any, Any] = {}
            cache[ident] = (ref, values)
            return values

        def cached_call(instance: Any, *args: Any, **kwargs: Any) -> FutureBase[Any]:
            key = _checked_key(key_of(args, kwargs), "@acached_per_instance()", fn, args, kwargs)
            values = values_of(instance)
            value = values.get(key, _MISSING)
            if value is not _MISSING:
                return ConstFuture(value)
            return in_flight.get_or_start(
                (id(instance), key),
                lambda: async_fn(instance, *args, **kwargs),
                lambda result: values.__setitem__(key, result),
            )

        decorated = make_async_decorator(fn, cached_call, "acached_per_instance")
        decorated.__acached_per_instance_cache__ = cache
        return decorated

    return decorator


class _Dropper:
    """The weak reference callback that drops a dead instance's cache entries."""

    __slots__ = ("cache", "ident")

    def __init__(self, cache: dict[int, Any], ident: int) -> None:
        self.cache = cache
        self.ident = ident

    def __call__(self, ref: weakref.ref[Any]) -> None:
        slot = self.cache.get(self.ident)
        if slot is not None and slot[0] is ref:
            del self.cache[self.ident]


def alru_cache(
    maxsize: int = 128, key_fn: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None
) -> Callable[[_F], _F]:
    """Cache an asynq function's results, keeping the ``maxsize`` most recently used.

    ``key_fn(args, kwargs)`` builds the cache key (default: the arguments, with defaults filled
    in so that ``f(1)`` and ``f(x=1)`` share an entry). Concurrent calls share one task; failures
    are not cached. ``f.dirty(*args, **kwargs)`` forgets one entry, ``f.clear()`` all of them.
    """
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(
            f"alru_cache(maxsize=...) must be a positive integer, got {short_repr(maxsize)}; "
            "for no caching leave the decorator out"
        )
    if key_fn is not None and not callable(key_fn):
        raise TypeError(
            f"alru_cache(key_fn=...) must be a function of (args, kwargs), got "
            f"{type(key_fn).__name__}: {short_repr(key_fn, 60)}"
        )

    def decorator(fn: _F) -> _F:
        async_fn = _require_asynq_fn(fn, "@alru_cache()")
        key_of = key_fn if key_fn is not None else _key_builder(fn, skip_first=False)
        values: OrderedDict[Any, Any] = OrderedDict()
        lock = threading.Lock()
        in_flight = _InFlight()
        generation = [0]  # bumped by dirty()/clear(): results computed before are not stored

        def store(key: Any, started: int, result: Any) -> None:
            with lock:
                if generation[0] != started:
                    return
                values[key] = result
                values.move_to_end(key)
                while len(values) > maxsize:
                    values.popitem(last=False)

        def cached_call(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            key = _checked_key(key_of(args, kwargs), "@alru_cache()", fn, args, kwargs)
            with lock:
                value = values.get(key, _MISSING)
                if value is not _MISSING:
                    values.move_to_end(key)
                    return ConstFuture(value)
            started = generation[0]
            return in_flight.get_or_start(
                key,
                lambda: async_fn(*args, **kwargs),
                lambda result: store(key, started, result),
            )

        def dirty(*args: Any, **kwargs: Any) -> None:
            """Forget the cached value of this call, so that the next call computes it again."""
            key = key_of(args, kwargs)
            with lock:
                generation[0] += 1
                values.pop(key, None)
            in_flight.discard(key)

        def clear() -> None:
            """Forget every cached value."""
            with lock:
                generation[0] += 1
                values.clear()
            in_flight.tasks().clear()

        decorated = make_async_decorator(fn, cached_call, "alru_cache")
        decorated.dirty = dirty
        decorated.clear = clear
        decorated.cache_size = lambda: len(values)
        return decorated

    return decorator


def alazy_constant(ttl: int = 0) -> Callable[[_F], _F]:
    """Compute an asynq function of no arguments once and keep its value.

    ``ttl`` (microseconds, like asynq 1.6): the value is recomputed when older than that; 0 keeps
    it for the life of the process. ``f.dirty()`` forgets it. Concurrent first calls share a task.
    """
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 0:
        raise ValueError(
            f"alazy_constant(ttl=...) is a number of microseconds (0: never expires), got "
            f"{short_repr(ttl)}"
        )

    def decorator(fn: _F) -> _F:
        async_fn = _require_asynq_fn(fn, "@alazy_constant()")
        name = getattr(fn, "__qualname__", repr(fn))
        state: dict[str, Any] = {"value": _MISSING, "expires": None, "generation": 0}
        in_flight = _InFlight()

        def store(started: int, result: Any) -> None:
            if state["generation"] != started:
                return
            state["value"] = result
            state["expires"] = time.monotonic() + ttl / 1e6 if ttl else None

        def constant(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            if args or kwargs:
                raise TypeError(
                    f"{name} is an @alazy_constant() and takes no arguments, got "
                    f"{len(args)} positional and {len(kwargs)} keyword argument(s); for a "
                    "function of arguments use @alru_cache()"
                )
            value = state["value"]
            if value is not _MISSING:
                expires = state["expires"]
                if expires is None or time.monotonic() < expires:
                    return ConstFuture(value)
                state["value"] = _MISSING
            started = state["generation"]
            return in_flight.get_or_start(None, async_fn, lambda result: store(started, result))

        def dirty() -> None:
            """Forget the value; the next call computes it again."""
            state["generation"] += 1
            state["value"] = _MISSING
            in_flight.discard(None)

        decorated = make_async_decorator(fn, constant, "alazy_constant")
        decorated.dirty = dirty
        return decorated

    return decorator


def deduplicate(
    keygetter: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None,
) -> Callable[[_F], _F]:
    """Never run two identical calls of an asynq function at the same time.

    While a call is in flight, every identical call (same arguments, defaults filled in, or the
    same ``keygetter(args, kwargs)``) gets the same task, so its body runs once. Once the task is
    done, the next call runs again: nothing is cached. ``f.dirty(*args, **kwargs)`` detaches the
    in-flight task, so the next identical call starts a new one. A call made while the in-flight
    task is itself running (its body calls the function again synchronously) gets a new task.
    """
    if keygetter is not None and not callable(keygetter):
        raise TypeError(
            f"deduplicate(keygetter=...) must be a function of (args, kwargs), got "
            f"{type(keygetter).__name__}: {short_repr(keygetter, 60)}"
        )

    def decorator(fn: _F) -> _F:
        return DeduplicateDecorator(fn, keygetter)  # type: ignore[return-value]

    return decorator


class DeduplicateDecorator(AsyncProxyDecorator[Any, Any]):
    """What ``@deduplicate()`` makes of an asynq function (see ``deduplicate``)."""

    def __init__(
        self,
        fn: Any,
        keygetter: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None,
    ) -> None:
        self._async_fn = _require_asynq_fn(fn, "@deduplicate()")
        super().__init__(fn)
        self.keygetter = keygetter
        self._key_of = keygetter if keygetter is not None else _key_builder(fn, skip_first=False)
        self._in_flight = _InFlight()

    def name(self) -> str:
        return "@deduplicate()"

    def asynq(self, *args: Any, **kwargs: Any) -> Any:
        """The in-flight future of an identical call, or a new one."""
        key = _checked_key(self._key_of(args, kwargs), "@deduplicate()", self.fn, args, kwargs)
        async_fn = self._async_fn
        return self._in_flight.get_or_start(key, lambda: async_fn(*args, **kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        check_sync_call(self)
        return self.asynq(*args, **kwargs).value()

    def dirty(self, *args: Any, **kwargs: Any) -> None:
        """Detach the in-flight task of this call (if any) from later identical calls."""
        self._in_flight.discard(self._key_of(args, kwargs))


# -- retries -------------------------------------------------------------------------------------


def aretry(
    exception_cls: type[BaseException] | tuple[type[BaseException], ...],
    max_tries: int = 10,
    sleep: float = 0.05,
) -> Callable[[_F], _F]:
    """Retry an asynq function (or plain function) when it raises ``exception_cls``.

    At most ``max_tries`` attempts, ``sleep`` seconds apart; the last attempt's error propagates.
    In asyncio mode the pause is an ``asyncio.sleep``, so the event loop keeps running.
    """
    classes = exception_cls if isinstance(exception_cls, tuple) else (exception_cls,)
    if not classes or not all(
        isinstance(cls, type) and issubclass(cls, BaseException) for cls in classes
    ):
        raise TypeError(
            f"aretry() expects an exception class or a tuple of them as exception_cls, got "
            f"{short_repr(exception_cls, 60)}; e.g. aretry(ConnectionError) or "
            "aretry((ConnectionError, TimeoutError))"
        )
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
        raise ValueError(
            f"aretry(max_tries=...) is the total number of attempts, a positive integer; got "
            f"{short_repr(max_tries)}"
        )
    if isinstance(sleep, bool) or not isinstance(sleep, (int, float)) or sleep < 0:
        raise ValueError(f"aretry(sleep=...) is a number of seconds >= 0, got {short_repr(sleep)}")

    def decorator(fn: _F) -> _F:
        async_fn = get_async_fn(fn, wrap_if_none=True)
        assert async_fn is not None

        def retrying(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            return _retry.asynq(async_fn, classes, max_tries, sleep, args, kwargs)

        return make_async_decorator(fn, retrying, "aretry")

    return decorator


@asynq()
def _retry(
    async_fn: Callable[..., FutureBase[Any]],
    classes: tuple[type[BaseException], ...],
    max_tries: int,
    sleep: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> _Gen[Any]:
    for attempt in range(1, max_tries + 1):
        try:
            return (yield async_fn(*args, **kwargs))
        except classes:
            if attempt == max_tries:
                raise
        if sleep:
            if is_asyncio_mode():
                yield from_awaitable(asyncio.sleep(sleep))
            else:
                time.sleep(sleep)
    raise AssertionError("unreachable: the last attempt returns or raises")


# -- timing and events ---------------------------------------------------------------------------


#: The clock of ``AsyncTimer`` (nanoseconds); tests replace it with a fake one.
_clock_ns = time.perf_counter_ns


class AsyncTimer(AsyncContext):
    """Measure the time a block of asynq code spends running, excluding time switched out.

    ``with AsyncTimer() as timer: yield work.asynq()`` then ``timer.total_time`` is the time in
    microseconds (an int) during which the block's task was active: other tasks running meanwhile
    and batch flushes the task waited for do not count. Read it after the block.

    In asyncio mode (asynq code run by ``await f.asyncio(...)``) it measures the wall-clock time
    of the block, awaits included, as asynq 1.6 does there: what an asyncio program interleaves
    with the block counts too.
    """

    def __init__(self) -> None:
        self.total_time = 0
        self._elapsed_ns = 0
        self._started_ns: int | None = None
        self._wall_clock = False

    def __enter__(self) -> AsyncTimer:
        if is_asyncio_mode():
            self._wall_clock = True
            self.resume()
            return self
        return super().__enter__()

    def resume(self) -> None:
        self._started_ns = _clock_ns()

    def pause(self) -> None:
        started = self._started_ns
        if started is not None:
            self._started_ns = None
            self._elapsed_ns += _clock_ns() - started
            self.total_time = self._elapsed_ns // 1000

    def __exit__(
        self,
        typ: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._wall_clock:
            self._wall_clock = False
        else:
            super().__exit__(typ, val, tb)
        self.pause()  # a generator closed by garbage collection is not paused by leave_context


class AsyncEventHook(EventHook):
    """An event hook whose ``trigger`` runs asynq handlers together, batched.

    ``hook.trigger(*args)`` (or ``yield hook.trigger.asynq(*args)``) calls every subscribed
    handler with ``args``: asynq handlers as tasks yielded together, plain handlers directly. All
    handlers are invoked; if any failed, the first failure in subscription order is raised.
    ``hook(*args)`` is qcore's plain, unbatched call.
    """

    @asynq()
    def trigger(self, *args: Any) -> _Gen[None]:
        """Invoke all handlers (asynq ones batched together); raise the first failure."""
        yield [async_call.asynq(handler, *args) for handler in list(self)]

    @asynq()
    def safe_trigger(self, *args: Any) -> _Gen[None]:
        """Invoke all handlers even if some fail, then raise the first failure (if any)."""
        yield [async_call.asynq(handler, *args) for handler in list(self)]


def _annotate_values(*decorated: Any) -> None:
    """Give each tool's body the return annotation of the value it computes (``list[_U]``, not
    ``Generator[Any, Any, list[_U]]``) at runtime. Type checkers that read asynq functions by
    introspection (pyanalyze) take an ``@asynq()`` function's return annotation as its value's
    type; mypy reads the source, where a generator must be annotated as one."""
    for tool in decorated:
        annotations = tool.fn.__annotations__
        returns = annotations.get("return")
        if isinstance(returns, str) and returns.startswith("_Gen[") and returns.endswith("]"):
            annotations["return"] = returns[len("_Gen[") : -1]


_annotate_values(amap, afilter, afilterfalse, asorted, amax, amin, asift, call_with_context)

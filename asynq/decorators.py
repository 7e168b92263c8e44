"""Decorators that make a function usable both synchronously and as a batched asynq task.

``@asynq()`` turns a function (usually a generator that yields futures) into an object that
- runs synchronously when called: ``f(x)`` returns the value;
- returns a lazy task from ``f.asynq(x)``, to be yielded by another asynq function;
- returns a coroutine from ``f.asyncio(x)``, to be awaited from asyncio code.

``@async_proxy()`` does the same for a function that already returns a future.

The classes build on qcore's decorator framework, as tools that inspect asynq code (pyanalyze)
expect: ``isinstance(f, AsyncDecorator)``, ``f.fn``, ``f.task_cls``, and ``obj.method`` gives a
binder with ``.decorator`` and ``.instance``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import types
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, Generic, Literal, ParamSpec, Protocol, TypeVar, overload

import qcore.decorators

from . import futures
from ._debug import options
from .async_task import NEW, AsyncTask
from .futures import ConstFuture, ErrorFuture, FutureBase
from .scheduler import get_active_task, get_scheduler

__all__ = [
    "asynq",
    "async_proxy",
    "async_call",
    "has_async_fn",
    "is_pure_async_fn",
    "is_async_fn",
    "get_async_fn",
    "get_async_or_sync_fn",
    "make_async_decorator",
    "lazy",
    "PureAsyncDecorator",
    "PureAsyncDecoratorBinder",
    "AsyncDecorator",
    "AsyncDecoratorBinder",
    "AsyncAndSyncPairDecorator",
    "AsyncProxyDecorator",
    "AsyncAndSyncPairProxyDecorator",
    "IncompatibleOptionsError",
]

_P = ParamSpec("_P")
_P2 = ParamSpec("_P2")
_T = TypeVar("_T")
_T2 = TypeVar("_T2")

_log = logging.getLogger("asynq")

#: Set by ``asynq.priming`` once legacy priming has recorded work: a synchronous call first runs
#: what was primed, so that the keys and tasks recorded before it are fetched in one round.
_before_sync_call: Callable[[], None] | None = None

#: Set by ``asynq.asyncio_interop`` while an event loop drives asynq work (``lowlevel.
#: set_sync_call_check``): vets a synchronous call, which would block the loop.
_sync_call_check: Callable[[object], None] | None = None

#: ``asynq.asyncio_interop``, registered by it when it loads (``lowlevel.register_asyncio_bridge``),
#: so that the kernel never imports it.
_asyncio_bridge: Any = None


def _asyncio() -> Any:
    bridge = _asyncio_bridge
    if bridge is None:
        raise RuntimeError(
            "internal error in asynq - please file a bug: the asyncio bridge is not registered "
            "(asynq.asyncio_interop registers itself when the asynq package is imported)"
        )
    return bridge


def _asyncio_mode() -> bool:
    return _asyncio_bridge is not None and bool(_asyncio_bridge.is_asyncio_mode())


def _check_decoratable(fn: object, decorator: str) -> None:
    if isinstance(fn, qcore.decorators.DecoratorBase) and isinstance(fn, PureAsyncDecorator):
        raise TypeError(
            f"{decorator} was applied to {fn!r}, which is already an asynq function; "
            "decorate the plain function once"
        )
    target = getattr(fn, "__func__", fn)
    if not callable(target):
        raise TypeError(
            f"{decorator} expects a function, got {type(fn).__name__}: {fn!r}; "
            f"write `{decorator}` on the line above a `def`"
        )
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        name = getattr(target, "__qualname__", repr(target))
        raise TypeError(
            f"{decorator} cannot decorate `async def {name}`: asynq functions are generators "
            "that yield futures. Write `def` with `yield f.asynq(...)`, or pass the coroutine "
            "function as asyncio_fn= to use it from asyncio code"
        )


def _find_by_qualname(module: str, qualname: str) -> Any:
    try:
        target: Any = sys.modules[module]
        for part in qualname.split("."):
            # Inside a class, take the decorator itself, not what its __get__ would bind.
            if isinstance(target, type):
                target = inspect.getattr_static(target, part)
            else:
                target = getattr(target, part)
    except (KeyError, AttributeError):
        raise TypeError(
            f"cannot unpickle asynq function {module}.{qualname}: it is not importable by that "
            "name (asynq functions pickle by reference, so they must live at module or class "
            "level)"
        ) from None
    return target


class PureAsyncDecoratorBinder(qcore.decorators.DecoratorBinder, Generic[_T, _P]):
    """What ``obj.method`` returns for a ``@asynq(pure=True)`` method."""

    decorator: PureAsyncDecorator[_T, Any]

    def is_pure_async_fn(self) -> bool:
        return True

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> AsyncTask[_T]:
        if self.instance is None:
            return self.decorator(*args, **kwargs)
        return self.decorator(self.instance, *args, **kwargs)


class PureAsyncDecorator(qcore.decorators.DecoratorBase, Generic[_T, _P]):
    """``@asynq(pure=True)``: calling the function returns its task."""

    binder_cls = PureAsyncDecoratorBinder
    fn: Callable[..., Any]
    type: Any
    __name__: str
    __module__: str

    def __init__(
        self,
        fn: Callable[_P, Any],
        task_cls: type[FutureBase[Any]] | None,
        kwargs: Mapping[str, Any] = {},  # noqa: B006 - read only, matches asynq 1.6's signature
        asyncio_fn: Callable[_P, Coroutine[Any, Any, _T]] | None = None,
    ) -> None:
        super().__init__(fn)
        fn = self.fn
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__wrapped__ = fn
        self.task_cls: type[Any] = task_cls if task_cls is not None else AsyncTask
        self.kwargs = dict(kwargs)
        self.asyncio_fn = asyncio_fn
        self._is_generator = inspect.isgeneratorfunction(fn)

    def name(self) -> str:
        return "@asynq(pure=True)"

    def is_pure_async_fn(self) -> bool:
        return True

    def _task(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncTask[_T]:
        fn = self.fn
        generator = fn(*args, **kwargs) if self._is_generator else None
        if self.kwargs:
            return self.task_cls(generator, fn, args, kwargs, **self.kwargs)
        return self.task_cls(generator, fn, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._task(args, kwargs)

    def asyncio(self, *args: _P.args, **kwargs: _P.kwargs) -> Coroutine[Any, Any, _T]:
        """A coroutine that computes the call, for ``await`` in asyncio code."""
        if self.asyncio_fn is not None:
            return self.asyncio_fn(*args, **kwargs)
        return _asyncio().resolve_in_asyncio(self._task(args, kwargs))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_find_by_qualname, (self.__module__, self.__qualname__))

    def __repr__(self) -> str:
        return f"{self.name()} {self.__module__}.{self.__qualname__}"

    __str__ = __repr__


class AsyncDecoratorBinder(qcore.decorators.DecoratorBinder, Generic[_T, _P]):
    """What ``obj.method`` returns for an ``@asynq()`` method: ``.asynq()`` binds too."""

    decorator: AsyncDecorator[_T, Any]

    def is_pure_async_fn(self) -> bool:
        return False

    def asynq(self, *args: _P.args, **kwargs: _P.kwargs) -> AsyncTask[_T]:
        """The call as a lazy task, with the instance (or class) bound."""
        if self.instance is None:
            return self.decorator.asynq(*args, **kwargs)
        return self.decorator.asynq(self.instance, *args, **kwargs)

    def asyncio(self, *args: _P.args, **kwargs: _P.kwargs) -> Coroutine[Any, Any, _T]:
        """The call as a coroutine, with the instance (or class) bound."""
        if self.instance is None:
            return self.decorator.asyncio(*args, **kwargs)
        return self.decorator.asyncio(self.instance, *args, **kwargs)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self.instance is None:
            return self.decorator(*args, **kwargs)
        return self.decorator(self.instance, *args, **kwargs)


class AsyncDecorator(PureAsyncDecorator[_T, _P]):
    """``@asynq()``: ``f(x)`` computes synchronously, ``f.asynq(x)`` returns a lazy task."""

    binder_cls = AsyncDecoratorBinder  # type: ignore[assignment]

    def __init__(
        self,
        fn: Callable[_P, Any],
        cls: type[FutureBase[Any]] | None,
        kwargs: Mapping[str, Any] = {},  # noqa: B006 - read only, matches asynq 1.6's signature
        asyncio_fn: Callable[_P, Coroutine[Any, Any, _T]] | None = None,
    ) -> None:
        super().__init__(fn, cls, kwargs, asyncio_fn)
        # The synchronous path may build the task itself unless a subclass changes how.
        self._direct_task = (
            self._is_generator and not self.kwargs and type(self).asynq is AsyncDecorator.asynq
        )
        if type(self).asynq is AsyncDecorator.asynq and asyncio_fn is None:
            # ``f.asynq`` is the hottest call in asynq code: serve it from the instance dict, bound
            # once to this decorator, over a function that closes over the function and task
            # class (no binding or attribute lookups per call). A bound method named ``asynq``
            # whose ``__self__`` is the decorator is what static checkers (pyanalyze) recognise.
            factory = _task_factory(self.fn, self.task_cls, self._is_generator, self.kwargs)
            self.asynq = types.MethodType(factory, self)  # type: ignore[method-assign]

    def name(self) -> str:
        return "@asynq()"

    def is_pure_async_fn(self) -> bool:
        return False

    def asynq(self, *args: _P.args, **kwargs: _P.kwargs) -> AsyncTask[_T]:
        """The call as a lazy task: yield it from an @asynq() function, or call ``.value()``.
        In asyncio mode, a function with an ``asyncio_fn`` runs that instead (as a future)."""
        if self.asyncio_fn is not None and _asyncio_mode():
            return _asyncio().from_awaitable(self.asyncio_fn(*args, **kwargs))
        fn = self.fn
        generator = fn(*args, **kwargs) if self._is_generator else None
        if self.kwargs:
            return self.task_cls(generator, fn, args, kwargs, **self.kwargs)
        return self.task_cls(generator, fn, args, kwargs)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if _before_sync_call is not None:
            _before_sync_call()
        if _sync_call_check is not None:  # an event loop runs asynq work: a sync call may be wrong
            _sync_call_check(self)
        # Always through a task, even for a body that does not yield: inside it, the body sees
        # itself as the active task (get_active_task(), contexts), as asynq 1.6 code expects.
        task: AsyncTask[_T]
        if self._direct_task:
            # What the bound ``asynq`` does, without a second call that repacks the arguments.
            fn = self.fn
            task = self.task_cls(fn(*args, **kwargs), fn, args, kwargs)
        else:
            task = self.asynq(*args, **kwargs)
        if task.creator is not None:
            _note_sync_call(self)
        if task._state == NEW:
            get_scheduler()._drive(task, True)
        elif not task._computed:
            get_scheduler().wait_for(task)
        if task._error is not None:
            raise task._error.with_traceback(task._traceback)
        return task._value

    def __get__(
        self: AsyncDecorator[_T2, Any], owner: Any, cls: Any
    ) -> AsyncDecoratorBinder[_T2, Any]:
        return super().__get__(owner, cls)  # type: ignore[return-value]


def _task_factory(
    fn: Callable[..., Any], task_cls: type[Any], is_generator: bool, extra: dict[str, Any]
) -> Callable[..., Any]:
    """The body of ``f.asynq``, to be bound to the decorator (its first argument is unused)."""
    if extra:

        def asynq(_decorator: Any, /, *args: Any, **kwargs: Any) -> Any:
            generator = fn(*args, **kwargs) if is_generator else None
            return task_cls(generator, fn, args, kwargs, **extra)

    elif is_generator:

        def asynq(_decorator: Any, /, *args: Any, **kwargs: Any) -> Any:
            return task_cls(fn(*args, **kwargs), fn, args, kwargs)

    else:

        def asynq(_decorator: Any, /, *args: Any, **kwargs: Any) -> Any:
            return task_cls(None, fn, args, kwargs)

    asynq.__doc__ = AsyncDecorator.asynq.__doc__
    return asynq


def _unwrap_sync_fn(sync_fn: Any) -> Callable[..., Any]:
    """``sync_fn`` as called with the decorated function's arguments. Inside a class body the
    synchronous twin is still a ``classmethod``/``staticmethod`` object: take its function, which
    receives the class (or nothing) exactly as the decorated method does."""
    if isinstance(sync_fn, (classmethod, staticmethod)):
        sync_fn = sync_fn.__func__
    if not callable(sync_fn):
        raise TypeError(f"sync_fn must be callable, got {type(sync_fn).__name__}: {sync_fn!r}")
    return sync_fn


class AsyncAndSyncPairDecorator(AsyncDecorator[_T, _P]):
    """``@asynq(sync_fn=g)``: ``f(x)`` calls ``g(x)``; ``f.asynq(x)`` runs the decorated body."""

    def __init__(
        self,
        fn: Callable[_P, Any],
        cls: type[FutureBase[Any]] | None,
        sync_fn: Callable[..., _T],
        kwargs: Mapping[str, Any] = {},  # noqa: B006 - read only, matches asynq 1.6's signature
        asyncio_fn: Callable[_P, Coroutine[Any, Any, _T]] | None = None,
    ) -> None:
        super().__init__(fn, cls, kwargs, asyncio_fn)
        self.sync_fn = _unwrap_sync_fn(sync_fn)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return self.sync_fn(*args, **kwargs)


def _check_proxy_result(decorator: Any, result: object) -> FutureBase[Any]:
    if isinstance(result, FutureBase):
        return result
    raise TypeError(
        f"@async_proxy() function {decorator.__qualname__} returned {type(result).__name__} "
        f"{futures._short_repr(result, 60)}; a proxy must return a future. Return "
        "ConstFuture(value) for a known value, or other_fn.asynq(...) to delegate"
    )


class AsyncProxyDecorator(AsyncDecorator[_T, _P]):
    """``@async_proxy()``: the function returns a future; ``f(x)`` is that future's value."""

    def __init__(
        self,
        fn: Callable[_P, FutureBase[_T]],
        asyncio_fn: Callable[_P, Coroutine[Any, Any, _T]] | None = None,
    ) -> None:
        super().__init__(fn, None, {}, asyncio_fn)
        # A proxy's future is whatever its function returns: any FutureBase, not always a task.
        self.task_cls = FutureBase

    def name(self) -> str:
        return "@async_proxy()"

    def asynq(self, *args: _P.args, **kwargs: _P.kwargs) -> AsyncTask[_T]:
        if self.asyncio_fn is not None and _asyncio_mode():
            return _asyncio().from_awaitable(self.asyncio_fn(*args, **kwargs))
        return _check_proxy_result(self, self.fn(*args, **kwargs))  # type: ignore[return-value]

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if _sync_call_check is not None:
            _sync_call_check(self)
        if get_active_task() is not None:
            _note_sync_call(self)
        return _check_proxy_result(self, self.fn(*args, **kwargs)).value()

    def asyncio(self, *args: _P.args, **kwargs: _P.kwargs) -> Coroutine[Any, Any, _T]:
        if self.asyncio_fn is not None:
            return self.asyncio_fn(*args, **kwargs)
        # The proxy is called inside asyncio mode, where the functions it delegates to may run
        # their own asyncio_fn: through a task, not here, where the coroutine is only created.
        return _asyncio().resolve_in_asyncio(_call_proxy.asynq(self, args, kwargs))


class AsyncAndSyncPairProxyDecorator(AsyncProxyDecorator[_T, _P]):
    """``@async_proxy(sync_fn=g)``: ``f(x)`` calls ``g(x)``."""

    def __init__(
        self,
        fn: Callable[_P, FutureBase[_T]],
        sync_fn: Callable[..., _T],
        asyncio_fn: Callable[_P, Coroutine[Any, Any, _T]] | None = None,
    ) -> None:
        super().__init__(fn, asyncio_fn)
        self.sync_fn = _unwrap_sync_fn(sync_fn)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return self.sync_fn(*args, **kwargs)


class PureAsyncProxyDecorator(PureAsyncDecorator[_T, _P]):
    """``@async_proxy(pure=True)``: calling the function returns its future."""

    def __init__(
        self,
        fn: Callable[_P, FutureBase[_T]],
        asyncio_fn: Callable[_P, Coroutine[Any, Any, _T]] | None = None,
    ) -> None:
        super().__init__(fn, None, {}, asyncio_fn)
        self.task_cls = FutureBase

    def name(self) -> str:
        return "@async_proxy(pure=True)"

    def _task(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return _check_proxy_result(self, self.fn(*args, **kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _check_proxy_result(self, self.fn(*args, **kwargs))


def _note_sync_call(decorator: Any) -> None:
    """A synchronous call of an asynq function inside a running task: legal, but unbatched."""
    get_scheduler().stats.impure_calls += 1
    if options.DUMP_SYNC_CALLS:
        _log.warning(
            "asynq: %s was called synchronously inside %r; its reads are not batched with the "
            "caller's other work. Write `yield %s.asynq(...)` instead.",
            decorator,
            get_active_task(),
            decorator.__name__,
        )


# -- @classmethod above an asynq function ------------------------------------------------------
#
# Up to Python 3.12, ``Cls.f`` for a ``@classmethod`` over an asynq function asked the asynq
# function's own ``__get__`` to bind it to the class, so ``Cls.f.asynq()`` passed ``cls``. From
# 3.13 on, classmethod binds its function as a plain method: ``Cls.f.asynq`` is the unbound
# ``f.asynq`` and ``cls`` is lost. An asynq function decorated in a class body therefore leaves a
# hook there; when the class is created, the hook rewraps such classmethods so that they bind
# through the asynq function again.


class _AsynqClassmethod(classmethod):
    """``@classmethod`` over an asynq function that binds ``.asynq()`` and ``.asyncio()`` too."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if owner is None:
            owner = type(instance)
        return self.__func__.__get__(owner, type(owner))


_CLASS_HOOK = "__asynq_classmethods__"


class _ClassmethodHook:
    """Left in a class body that defines asynq functions; rewraps them at class creation."""

    def __set_name__(self, owner: type, name: str) -> None:
        delattr(owner, name)
        for attr, value in list(vars(owner).items()):
            if type(value) is classmethod and isinstance(value.__func__, PureAsyncDecorator):
                setattr(owner, attr, _AsynqClassmethod(value.__func__))


def _hook_class_body(depth: int) -> None:
    """If the frame ``depth`` levels up is a class body, make sure it holds the hook."""
    if sys.version_info < (3, 13):
        return
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return
    namespace = frame.f_locals
    if (
        namespace is not frame.f_globals
        and "__module__" in namespace
        and "__qualname__" in namespace
        and _CLASS_HOOK not in namespace
    ):
        namespace[_CLASS_HOOK] = _ClassmethodHook()


# -- factories -------------------------------------------------------------------------------------


class _MkAsyncDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[_P, Generator[Any, Any, _T]]) -> AsyncDecorator[_T, _P]: ...
    @overload
    def __call__(self, fn: Callable[_P, _T]) -> AsyncDecorator[_T, _P]: ...


class _MkPureAsyncDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[_P, Generator[Any, Any, _T]]) -> PureAsyncDecorator[_T, _P]: ...
    @overload
    def __call__(self, fn: Callable[_P, _T]) -> PureAsyncDecorator[_T, _P]: ...


class IncompatibleOptionsError(TypeError, AssertionError):
    """Decorator options that contradict each other. A ``TypeError``, and an ``AssertionError``
    as asynq 1.6 raised it."""


def _reject_bare_use(name: str, first: object) -> None:
    if callable(first) and not isinstance(first, bool):
        fn_name = getattr(first, "__name__", repr(first))
        raise TypeError(
            f"{name} was applied directly to {fn_name}; it takes options, so write "
            f"`@{name}()` with parentheses"
        )


@overload
def asynq(
    pure: Literal[False] = False,
    sync_fn: Callable[..., Any] | None = None,
    cls: type[FutureBase[Any]] = AsyncTask,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    **kwargs: Any,
) -> _MkAsyncDecorator: ...
@overload
def asynq(
    pure: Literal[True],
    sync_fn: Callable[..., Any] | None = None,
    cls: type[FutureBase[Any]] = AsyncTask,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    **kwargs: Any,
) -> _MkPureAsyncDecorator: ...
def asynq(
    pure: bool = False,
    sync_fn: Callable[..., Any] | None = None,
    cls: type[FutureBase[Any]] = AsyncTask,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    **kwargs: Any,
) -> Any:
    """Make a function an asynq function (see the module docstring).

    ``pure=True``: calling it returns the task. ``sync_fn``: what a synchronous call runs instead
    of the body. ``cls``: the task class. ``asyncio_fn``: a coroutine function ``.asyncio()`` uses.
    Remaining keyword arguments are passed to ``cls`` for every task.
    """
    _reject_bare_use("asynq", pure)
    if pure and sync_fn is not None:
        raise IncompatibleOptionsError(
            "asynq(pure=True, sync_fn=...) makes no sense: a pure asynq function has no "
            "synchronous form; drop one of the two"
        )

    def decorate(fn: Callable[..., Any]) -> Any:
        _check_decoratable(fn, "@asynq()")
        _hook_class_body(1)
        if pure:
            return PureAsyncDecorator(fn, cls, kwargs, asyncio_fn)
        if sync_fn is not None:
            return AsyncAndSyncPairDecorator(fn, cls, sync_fn, kwargs, asyncio_fn)
        return AsyncDecorator(fn, cls, kwargs, asyncio_fn)

    return decorate


def async_proxy(
    pure: bool = False,
    sync_fn: Callable[..., Any] | None = None,
    asyncio_fn: Callable[..., Coroutine[Any, Any, Any]] | None = None,
) -> Callable[[Callable[_P, FutureBase[_T]]], AsyncDecorator[_T, _P]]:
    """Make a function that returns a future look like an ``@asynq()`` function."""
    # The return type is a plain Callable, not a Protocol with a generic __call__: checkers that
    # read annotations at runtime (pyanalyze) cannot solve the latter.
    _reject_bare_use("async_proxy", pure)
    if pure and sync_fn is not None:
        raise IncompatibleOptionsError(
            "async_proxy(pure=True, sync_fn=...) makes no sense: a pure proxy has no "
            "synchronous form; drop one of the two"
        )

    def decorate(fn: Callable[..., Any]) -> Any:
        _check_decoratable(fn, "@async_proxy()")
        _hook_class_body(1)
        if pure:
            return PureAsyncProxyDecorator(fn, asyncio_fn)
        if sync_fn is not None:
            return AsyncAndSyncPairProxyDecorator(fn, sync_fn, asyncio_fn)
        return AsyncProxyDecorator(fn, asyncio_fn)

    return decorate


# -- introspection -------------------------------------------------------------------------------


def is_pure_async_fn(fn: object) -> bool:
    """Whether calling ``fn`` returns a future (``@asynq(pure=True)``, pure proxies)."""
    check = getattr(fn, "is_pure_async_fn", None)
    if check is None or not callable(check):
        return False
    try:
        return check() is True
    except TypeError:
        return False


def has_async_fn(fn: object) -> bool:
    """Whether ``fn`` has an ``.asynq`` form (``@asynq()``, ``@async_proxy()``, bound methods)."""
    if isinstance(fn, (AsyncDecorator, AsyncDecoratorBinder)):
        return True
    return callable(getattr(fn, "asynq", None)) and not is_pure_async_fn(fn)


def is_async_fn(fn: object) -> bool:
    """Whether ``fn`` can be called asynchronously, through ``.asynq`` or by being pure."""
    return has_async_fn(fn) or is_pure_async_fn(fn)


def get_async_fn(fn: object, wrap_if_none: bool = False) -> Callable[..., FutureBase[Any]] | None:
    """The callable that returns a future for ``fn``'s call: ``fn.asynq``, ``fn`` itself if it
    is pure, a wrapper returning a ``ConstFuture`` if ``wrap_if_none``, else None."""
    if has_async_fn(fn):
        return fn.asynq  # type: ignore[attr-defined]
    if is_pure_async_fn(fn):
        return fn  # type: ignore[return-value]
    if wrap_if_none:
        if not callable(fn):
            raise TypeError(f"get_async_fn() expects a callable, got {type(fn).__name__}: {fn!r}")
        plain = fn

        @functools.wraps(plain)
        def sync_to_async_fn_wrapper(*args: Any, **kwargs: Any) -> FutureBase[Any]:
            return ConstFuture(plain(*args, **kwargs))

        sync_to_async_fn_wrapper.is_pure_async_fn = _true  # type: ignore[attr-defined]
        return sync_to_async_fn_wrapper
    return None


def get_async_or_sync_fn(fn: object) -> Any:
    """``fn``'s future-returning form if it has one, else ``fn``."""
    async_fn = get_async_fn(fn)
    return fn if async_fn is None else async_fn


@async_proxy()
def async_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> FutureBase[Any]:
    """Call ``fn`` asynchronously if it is an asynq function, else synchronously, as a future."""
    async_fn = get_async_fn(fn)
    if async_fn is not None:
        return async_fn(*args, **kwargs)
    try:
        return ConstFuture(fn(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - surfaces at the caller's yield
        return ErrorFuture(error)


class _AsyncWrapperDecorator(AsyncProxyDecorator[Any, Any]):
    def __init__(self, fn: Callable[..., Any], wrapper_fn: Callable[..., Any], name: str) -> None:
        super().__init__(wrapper_fn)
        qcore.decorators.DecoratorBase.__init__(self, fn)
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__wrapped__ = fn
        self.wrapper_fn = wrapper_fn
        self._name = name

    def name(self) -> str:
        return f"@{self._name}()"

    def asynq(self, *args: Any, **kwargs: Any) -> Any:
        return _check_proxy_result(self, self.wrapper_fn(*args, **kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _sync_call_check is not None:
            _sync_call_check(self)
        return self.asynq(*args, **kwargs).value()


def make_async_decorator(
    fn: Callable[..., Any], wrapper_fn: Callable[..., FutureBase[Any]], name: str
) -> Any:
    """An asynq function named like ``fn`` whose calls go to ``wrapper_fn`` (which returns a
    future): the building block of decorators that wrap asynq functions."""
    return _AsyncWrapperDecorator(fn, wrapper_fn, name)


def lazy(fn: Callable[_P, _T]) -> Callable[_P, FutureBase[_T]]:
    """Wrap ``fn`` so that calling it returns a ``Future`` computed on first ``value()``."""

    @functools.wraps(fn)
    def make_future(*args: _P.args, **kwargs: _P.kwargs) -> FutureBase[_T]:
        return futures.Future(functools.partial(fn, *args, **kwargs))

    # Calling it returns a future: a pure async function (is_pure_async_fn, get_async_fn).
    make_future.is_pure_async_fn = _true  # type: ignore[attr-defined]
    return make_future


def _true() -> bool:
    return True


@asynq()
def _call_proxy(proxy: Any, args: Any, kwargs: Any) -> Any:
    return (yield proxy.asynq(*args, **kwargs))

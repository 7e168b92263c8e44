"""Futures: values that may not be computed yet.

A future is computed exactly once, either with a value or with an error. Everything the scheduler
waits on is a future: tasks (``AsyncTask``), batch items, batches, and the simple futures below.

Two things hang off an uncomputed future: the tasks blocked on it (``_waiters``, maintained by the
scheduler: the task itself when there is one, a list when there are several) and the callbacks
subscribed through ``on_computed``. Both are created on first use, so a
future that nobody waits on costs its slots and nothing else. A ``ConstFuture`` sets one slot, its
value, and reads the rest from its class: a task may yield thousands of them at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, NoReturn, TypeVar

from qcore.events import EventHook

__all__ = [
    "FutureIsAlreadyComputed",
    "FutureBase",
    "Future",
    "ConstFuture",
    "ErrorFuture",
    "none_future",
    "call_on_computed",
    "short_repr",
]

_T = TypeVar("_T")


class FutureIsAlreadyComputed(Exception):
    """Raised by ``set_value`` / ``set_error`` on a future that already has a result."""


# The per-thread state of scheduler.py (``.scheduler`` is the thread's TaskScheduler), set when
# that module loads; a module global so that the hot paths below need no import.
_thread_state: Any = None


class FutureBase(Generic[_T]):
    """A value that is computed at most once; ``value()`` computes it if needed.

    A future is not its value: ``bool(future)`` raises ``TypeError`` so that ``if f.asynq(x):``
    cannot silently be true.
    """

    # ``_traceback`` is set together with ``_error`` and read only when ``_error`` is set: an error
    # object shared by several futures keeps, per future, the traceback it had when it failed it.
    __slots__ = (
        "_value",
        "_error",
        "_traceback",
        "_computed",
        "_waiters",
        "_on_computed",
        "__weakref__",
    )

    def __init__(self) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._computed = False
        self._waiters: Any = None  # None, one AsyncTask, or a list of them
        self._on_computed: EventHook | None = None

    # -- reading -------------------------------------------------------------------------------

    def value(self) -> _T:
        """Return the value, computing it first if needed; raise the error if it failed."""
        if not self._computed:
            self._compute()
        if self._error is not None:
            raise self._error.with_traceback(self._traceback)
        return self._value

    def __call__(self) -> _T:
        return self.value()

    def error(self) -> BaseException | None:
        """Return the error this future failed with (computing it first), or None."""
        if not self._computed:
            self._compute()
        return self._error

    def is_computed(self) -> bool:
        """Whether a value or an error has been set."""
        return self._computed

    def raise_if_error(self) -> None:
        """Raise the error if the future is computed and failed; otherwise do nothing."""
        if self._computed and self._error is not None:
            raise self._error.with_traceback(self._traceback)

    def __bool__(self) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} object cannot be used as a truth value: a future is not its "
            "value. Use `(yield fut)` inside an @asynq() function or `fut.value()` outside one."
        )

    # -- writing -------------------------------------------------------------------------------

    def set_value(self, value: _T) -> None:
        """Set the value and wake everything waiting on this future."""
        if self._computed:
            raise FutureIsAlreadyComputed(
                f"set_value({value!r}) on {self!r}, which is already computed; a future is set once"
            )
        self._value = value
        self._computed = True
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            _wake(waiters, False)
        if self._on_computed is not None:
            call_on_computed(self)

    def set_error(self, error: BaseException) -> None:
        """Fail the future with ``error`` and wake everything waiting on it."""
        if self._computed:
            raise FutureIsAlreadyComputed(
                f"set_error({error!r}) on {self!r}, which is already computed; a future is set once"
            )
        if not isinstance(error, BaseException):
            raise TypeError(
                f"set_error() expects an exception instance, got {type(error).__name__}: {error!r}"
            )
        self._error = error
        self._traceback = error.__traceback__
        self._computed = True
        if self._waiters is not None or self._on_computed is not None:
            self._notify()

    def reset_unsafe(self) -> None:
        """Forget the result so that the future can be computed again. Only for tests and tools
        that know nobody holds on to the old result."""
        self._value = None
        self._error = None
        self._computed = False

    @property
    def on_computed(self) -> EventHook:
        """Event hook called with this future once it is computed (``.subscribe(callback)``)."""
        hook = self._on_computed
        if hook is None:
            hook = self._on_computed = EventHook()
            if self._computed:
                # Late subscribers of a computed future would otherwise wait forever.
                return _ImmediateHook(self, hook)  # type: ignore[return-value]
        return hook

    def _notify(self) -> None:
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            _wake(waiters, False)
        if self._on_computed is not None:
            call_on_computed(self)

    def _compute(self) -> None:
        """Compute the future; the default runs the thread's scheduler until it is computed."""
        _thread_state.scheduler.wait_for(self)

    # -- display -------------------------------------------------------------------------------

    def _state_str(self) -> str:
        if not self._computed:
            return "pending"
        if self._error is not None:
            return f"error={self._error!r}"
        return f"value={_short_repr(self._value)}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._state_str()}>"

    def dump(self, indent: int = 0) -> None:
        """Print a one-line description of the future."""
        print(" " * indent + repr(self))


_log = logging.getLogger("asynq")


def _wake(waiters: Any, front: bool) -> None:
    """The wake-up protocol, for the waiters just taken off a computed future (``_waiters``:
    one task, or a list of them): each now waits on one future fewer, and a task that waits on
    none any more goes on the ready queue of its own scheduler (``_queue``), never of the
    thread that computed the future. At the back of the queue (values set by a batch flush, in
    key order), or with ``front`` at the front (a parent woken by its last child runs next)."""
    if type(waiters) is list:
        for task in waiters:
            task._pending -= 1
            if not task._pending:
                if front:
                    task._queue.appendleft(task)
                else:
                    task._queue.append(task)
    else:
        waiters._pending -= 1
        if not waiters._pending:
            if front:
                waiters._queue.appendleft(waiters)
            else:
                waiters._queue.append(waiters)


def call_on_computed(future: FutureBase[Any]) -> None:
    """Run the ``on_computed`` callbacks of a future that was just computed. A callback that
    raises an ``Exception`` is logged and changes nothing else: the future keeps its result and
    the other callbacks run. ``KeyboardInterrupt`` and other ``BaseException``s go on."""
    hook = future._on_computed
    if hook is None:
        return
    for callback in list(hook):
        try:
            callback(future)
        except Exception:
            _log.exception(
                "asynq: on_computed callback %r of %r raised; the error is ignored",
                callback,
                future,
            )


class _ImmediateHook:
    """What ``on_computed`` returns for an already computed future: subscribing calls back now."""

    __slots__ = ("_future", "_hook")

    def __init__(self, future: FutureBase[Any], hook: EventHook) -> None:
        self._future = future
        self._hook = hook

    def subscribe(self, handler: Callable[[FutureBase[Any]], object]) -> None:
        self._hook.subscribe(handler)
        handler(self._future)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hook, name)


class Future(FutureBase[_T]):
    """A future whose value is produced by calling ``value_provider()`` when first needed."""

    __slots__ = ("_value_provider",)

    def __init__(self, value_provider: Callable[[], _T]) -> None:
        super().__init__()
        if not callable(value_provider):
            raise TypeError(
                f"Future(value_provider) expects a callable taking no arguments, got "
                f"{type(value_provider).__name__}: {value_provider!r}; for a known value use "
                "ConstFuture(value)"
            )
        self._value_provider: Callable[[], _T] | None = value_provider

    def _compute(self) -> None:
        provider = self._value_provider
        if provider is None:  # being computed: the provider asked for its own value
            raise RuntimeError(f"{self!r} depends on itself: its value_provider asked for it")
        self._value_provider = None
        try:
            value = provider()
        except BaseException as error:  # noqa: BLE001 - the future carries any failure
            self.set_error(error)
        else:
            self.set_value(value)


class ConstFuture(FutureBase[_T]):
    """A future that already has its value."""

    __slots__ = ()

    # Everything but the value is the same for every ConstFuture, so it is read from the class:
    # creating one stores a single slot. The first write to that shared state (``reset_unsafe``,
    # an ``on_computed`` subscription) turns the instance into a _MutableConstFuture, which
    # keeps it per instance as every other future does.
    _error = None
    _traceback = None
    _computed = True
    _waiters = None
    _on_computed = None

    def __init__(self, value: _T) -> None:
        self._value = value

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A subclass keeps its state per instance (it may set any of it), defaulting to a
        # ConstFuture's until it does.
        super().__init_subclass__(**kwargs)
        for name, default in _CONST_DEFAULTS.items():
            if name not in cls.__dict__:
                setattr(cls, name, _SlotWithDefault(name, default))

    def reset_unsafe(self) -> None:
        """Forget the value so that the future can be set again (see ``FutureBase``)."""
        _make_mutable(self)
        super().reset_unsafe()

    @property
    def on_computed(self) -> EventHook:
        """Event hook called with this future once it is computed (``.subscribe(callback)``)."""
        _make_mutable(self)
        return super().on_computed

    def __reduce__(self) -> tuple[Any, ...]:
        # By value, the same on every Python and pickle protocol (slots alone are not, on 3.10).
        return (ConstFuture, (self._value,))


_CONST_DEFAULTS: dict[str, Any] = {
    "_error": None,
    "_traceback": None,
    "_computed": True,
    "_waiters": None,
    "_on_computed": None,
}


class _SlotWithDefault:
    """A ``FutureBase`` slot, read as ``default`` until it is first set."""

    __slots__ = ("_slot", "_default")

    def __init__(self, name: str, default: Any) -> None:
        self._slot = FutureBase.__dict__[name]
        self._default = default

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            return self._slot.__get__(instance, owner)
        except AttributeError:
            return self._default

    def __set__(self, instance: Any, value: Any) -> None:
        self._slot.__set__(instance, value)

    def __delete__(self, instance: Any) -> None:
        self._slot.__delete__(instance)


class _MutableConstFuture(ConstFuture[_T]):
    """A ConstFuture whose shared state was written to: the same object, state per instance."""

    __slots__ = ()


# Shown, compared and pickled as what it was created as.
_MutableConstFuture.__name__ = _MutableConstFuture.__qualname__ = "ConstFuture"


def _make_mutable(future: ConstFuture[Any]) -> None:
    if type(future) is ConstFuture:
        future.__class__ = _MutableConstFuture


class ErrorFuture(FutureBase[NoReturn]):
    """A future that already failed with ``error``."""

    __slots__ = ()

    def __init__(self, error: BaseException) -> None:
        if not isinstance(error, BaseException):
            raise TypeError(
                f"ErrorFuture(error) expects an exception instance, got "
                f"{type(error).__name__}: {error!r}"
            )
        self._value = None
        self._error = error
        self._traceback = error.__traceback__
        self._computed = True
        self._waiters = None
        self._on_computed = None


none_future: ConstFuture[None] = ConstFuture(None)


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (ending in ``...``); never raises: a broken
    ``__repr__`` gives ``<unrepresentable Type: error>``. For messages, debug output and traces."""
    try:
        text = repr(value)
    except Exception as error:  # noqa: BLE001 - a broken __repr__ must not break debugging
        text = f"<unrepresentable {type(value).__name__}: {error!r}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


_short_repr = short_repr  # the name the kernel modules use

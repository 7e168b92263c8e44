"""Async generators: generators that produce values while the futures they wait on batch.

An asynq function is a generator whose ``yield``s wait for futures, so it cannot also yield data.
``@async_generator()`` lifts that limit: inside it, ``yield fut`` still waits for a future (or a
list, tuple or dict of them), and ``yield Value(x)`` produces ``x``.

Calling the decorated function returns an ``AsyncGenerator``. Iterating it gives one *future per
value*; the consumer yields each to get the value, so whatever the generator waits on batches with
everything else the consumer's siblings do::

    @async_generator()
    def names_of(uids):
        for uid in uids:
            name = yield name_of.asynq(uid)
            yield Value(name)

    @asynq()
    def first_names(uids):
        return (yield take_first.asynq(names_of(uids), 2))

The generator advances only when its previous future has been computed. If it waits on futures
after its last ``Value``, its last future gives ``END_OF_GENERATOR``, which consumers skip
(``list_of_generator`` and ``take_first`` do).
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

import qcore

from .decorators import async_proxy, asynq
from .futures import ConstFuture, ErrorFuture, FutureBase
from .lowlevel import short_repr

__all__ = [
    "END_OF_GENERATOR",
    "AsyncGenerator",
    "Value",
    "async_generator",
    "list_of_generator",
    "take_first",
]

_T = TypeVar("_T")

#: The value of an async generator's last future when the generator waited on futures after
#: its last ``Value``; not a value of the generator.
END_OF_GENERATOR = qcore.MarkerObject("end of generator")


class Value(Generic[_T]):
    """Wraps a value an async generator produces: ``yield Value(x)``."""

    __slots__ = ("value",)

    def __init__(self, value: _T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<Value: {self.value!r}>"


def async_generator() -> Callable[
    [Callable[..., Generator[Any, Any, Any]]], Callable[..., AsyncGenerator[Any]]
]:
    """Make a generator function an async generator (see the module docstring)."""

    def decorator(
        fn: Callable[..., Generator[Any, Any, Any]],
    ) -> Callable[..., AsyncGenerator[Any]]:
        name = getattr(fn, "__qualname__", None) or short_repr(fn, 60)
        if hasattr(fn, "asynq"):
            raise TypeError(
                f"@async_generator() was applied to the asynq function {name}; decorate the plain "
                "generator function with @async_generator() alone (not also @asynq())"
            )
        if not inspect.isgeneratorfunction(fn):
            raise TypeError(
                f"@async_generator() expects a generator function (a def with `yield`), got "
                f"{type(fn).__name__}: {name}; yield Value(x) for each value it produces"
            )

        @functools.wraps(fn)
        def create(*args: Any, **kwargs: Any) -> AsyncGenerator[Any]:
            return AsyncGenerator(fn(*args, **kwargs))

        return create

    return decorator


class AsyncGenerator(Generic[_T]):
    """A running async generator: iterate it for one future per value (see the module docstring).

    ``send.asynq(x)`` resumes the generator with ``x`` (what its ``yield Value(...)`` evaluates
    to) and returns the future of the next value; ``send(x)`` does the same synchronously.
    """

    def __init__(self, generator: Generator[Any, Any, Any]) -> None:
        if not isinstance(generator, types.GeneratorType):
            raise TypeError(
                f"AsyncGenerator() expects a generator object, got {type(generator).__name__}: "
                f"{short_repr(generator, 60)}; decorate the generator function with "
                "@async_generator() and call it"
            )
        self.generator = generator
        self.last_task: FutureBase[Any] | None = None
        self.is_stopped = False

    def __iter__(self) -> AsyncGenerator[_T]:
        return self

    def __next__(self) -> FutureBase[_T]:
        return self._advance(None)

    next = __next__

    @async_proxy()
    def send(self, value: Any) -> FutureBase[_T]:
        """Resume the generator with ``value``; the future of its next value."""
        return self._advance(value)

    def _advance(self, value: Any) -> FutureBase[_T]:
        last = self.last_task
        if last is not None and not last.is_computed():
            raise RuntimeError(
                f"cannot advance async generator {self._name()}: the future of its previous "
                "value is not computed yet; yield it (`value = yield task`) before asking for "
                "the next one"
            )
        if self.is_stopped:
            raise StopIteration
        future = self._start(value)
        self.last_task = future
        return future

    def _start(self, value: Any) -> FutureBase[_T]:
        """Run the generator up to its first ``Value`` or its first wait."""
        generator = self.generator
        error: BaseException | None = None
        while True:
            try:
                out = generator.send(value) if error is None else generator.throw(error)
            except StopIteration:
                self.is_stopped = True
                raise
            except Exception as raised:  # noqa: BLE001 - surfaces at the consumer's yield
                self.is_stopped = True
                failed: FutureBase[_T] = ErrorFuture(raised)  # type: ignore[assignment]
                return failed
            except BaseException:
                self.is_stopped = True
                raise
            if type(out) is Value:
                return ConstFuture(out.value)
            if _waitable(out):
                return _resume_after.asynq(self, out)
            error = TypeError(_bad_yield_message(self._name(), out))
            value = None

    def _name(self) -> str:
        return getattr(self.generator, "__qualname__", "async generator")

    def __repr__(self) -> str:
        state = "stopped" if self.is_stopped else "running"
        return f"<AsyncGenerator {self._name()} {state}>"


_AsyncGenerator = AsyncGenerator  # asynq 1.6's name


def _waitable(out: object) -> bool:
    return out is None or isinstance(out, FutureBase) or type(out) in (list, tuple, dict)


def _bad_yield_message(name: str, out: object) -> str:
    return (
        f"async generator {name} yielded {type(out).__name__} {short_repr(out, 60)}; wrap a "
        "value it produces in Value (`yield Value(x)`), and yield only futures to wait for "
        "(a task from f.asynq(...), a batch item, None, or a list, tuple or dict of those)"
    )


@asynq()
def _resume_after(agen: AsyncGenerator[Any], awaited: Any) -> Generator[Any, Any, Any]:
    """Wait for what the generator yielded, resume it, repeat until its next Value or its end."""
    generator = agen.generator
    waiting = awaited
    while True:
        error: BaseException | None = None
        value: Any = None
        try:
            value = yield waiting
        except GeneratorExit:
            raise
        except BaseException as raised:  # noqa: BLE001 - thrown into the generator at its yield
            error = raised
        while True:
            try:
                out = generator.send(value) if error is None else generator.throw(error)
            except StopIteration:
                agen.is_stopped = True
                return END_OF_GENERATOR
            except BaseException:
                agen.is_stopped = True
                raise
            if type(out) is Value:
                return out.value
            if _waitable(out):
                waiting = out
                break
            error = TypeError(_bad_yield_message(agen._name(), out))
            value = None


def _require_generator(generator: object, tool: str) -> None:
    if not isinstance(generator, AsyncGenerator):
        raise TypeError(
            f"{tool}() expects an async generator (the result of calling an @async_generator() "
            f"function), got {type(generator).__name__}: {short_repr(generator, 60)}"
        )


@asynq()
def list_of_generator(generator: AsyncGenerator[_T]) -> Generator[Any, Any, list[_T]]:
    """All the values of an async generator, in order."""
    _require_generator(generator, "list_of_generator")
    values: list[_T] = []
    for task in generator:
        value = yield task
        if value is not END_OF_GENERATOR:
            values.append(value)
    return values


@asynq()
def take_first(generator: AsyncGenerator[_T], n: int) -> Generator[Any, Any, list[_T]]:
    """The first ``n`` values of an async generator (fewer if it ends sooner); it is not advanced
    past the ``n``-th value."""
    _require_generator(generator, "take_first")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"take_first() needs a count n >= 0, got {short_repr(n)}")
    values: list[_T] = []
    while len(values) < n:
        try:
            task = next(generator)
        except StopIteration:
            break
        value = yield task
        if value is not END_OF_GENERATOR:
            values.append(value)
    return values

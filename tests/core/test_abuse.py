"""Every user-facing error of the core, pinned: what was received, what was expected, the fix."""

from __future__ import annotations

import collections
import pickle
from typing import Any

import pytest

import asynq
from asynq import (
    AsyncTaskError,
    BatchingError,
    ConstFuture,
    ErrorFuture,
    Future,
    FutureBase,
    FutureIsAlreadyComputed,
    NonAsyncContext,
    async_proxy,
    get_async_fn,
)
from core.helpers import KeyKind, RecordingBatch

ALLOWED = (
    "an asynq task may yield None, a future (a task from f.asynq(...), a batch item), or an "
    "exact list, tuple or dict of those"
)


@asynq.asynq()
def helper() -> int:
    return 1


async def native_coroutine() -> int:
    return 1


def plain_generator() -> Any:
    yield 1


Pair = collections.namedtuple("Pair", "a b")


class MyList(list):  # type: ignore[type-arg]
    pass


def yield_error(value: Any) -> str:
    """The TypeError an @asynq() function gets at the yield of ``value``."""

    @asynq.asynq()
    def bad() -> Any:
        try:
            yield (
                value()
                if callable(value) and getattr(value, "__name__", "") == "<lambda>"
                else value
            )
        except TypeError as error:
            return str(error)
        return "no error"

    return bad()


WHO = "@asynq() function yield_error.<locals>.bad()"


@pytest.mark.parametrize(
    "value, expected",
    [
        (
            {1},
            f"{WHO} yielded a set; {ALLOWED}. Hint: sets are unordered, so values could not be "
            "matched to futures; yield a list or tuple.",
        ),
        (
            5,
            f"{WHO} yielded an int (5); {ALLOWED}. Hint: yield the future that computes it, or "
            "use the value directly without yielding.",
        ),
        (
            lambda: native_coroutine(),
            f"{WHO} yielded a coroutine object (native_coroutine); {ALLOWED}. Hint: `async def "
            "native_coroutine` makes a coroutine, which asyncio awaits; asynq cannot batch it. "
            "Write it as a generator decorated with @asynq() and yield "
            "`native_coroutine.asynq(...)`.",
        ),
        (
            lambda: plain_generator(),
            f"{WHO} yielded a generator object (plain_generator); {ALLOWED}. Hint: decorate "
            "plain_generator with @asynq() and yield `plain_generator.asynq(...)`.",
        ),
        (
            helper,
            f"{WHO} yielded the asynq function helper itself; {ALLOWED}. Hint: call it with "
            "`.asynq(...)`: `yield helper.asynq(...)`.",
        ),
        (
            len,
            f"{WHO} yielded the function len itself; {ALLOWED}. Hint: call it with `.asynq(...)` "
            "after decorating it with @asynq(): `yield len.asynq(...)`.",
        ),
        (
            Pair(1, 2),
            f"{WHO} yielded a Pair (a subclass of tuple); {ALLOWED}. Hint: only exact list, tuple "
            "and dict are unwrapped; convert it, e.g. `yield tuple(value)`.",
        ),
        (
            MyList(),
            f"{WHO} yielded a MyList (a subclass of list); {ALLOWED}. Hint: only exact list, "
            "tuple and dict are unwrapped; convert it, e.g. `yield list(value)`.",
        ),
        (
            {"k": 3.5},
            f"{WHO} yielded a float (3.5) inside a dict; {ALLOWED}. Hint: yield the future that "
            "computes it, or use the value directly without yielding.",
        ),
        (
            [None, ["x"]],
            f"{WHO} yielded a str ('x') inside a list; {ALLOWED}. Hint: yield the future that "
            "computes it, or use the value directly without yielding.",
        ),
    ],
    ids=[
        "set",
        "int",
        "coroutine",
        "generator",
        "asynq function",
        "plain function",
        "namedtuple",
        "list subclass",
        "bad dict value",
        "bad nested element",
    ],
)
def test_yielding_something_that_is_not_a_yieldable(value: Any, expected: str) -> None:
    assert yield_error(value) == expected


def test_a_bad_element_after_a_task_leaves_nothing_half_registered() -> None:
    pending = helper.asynq()

    @asynq.asynq()
    def bad() -> Any:
        try:
            yield [pending, object()]
        except TypeError:
            pass
        return (yield pending)

    assert bad() == 1
    assert pending._waiters is None


def test_yielding_inside_a_non_async_context() -> None:
    kv = KeyKind()

    @asynq.asynq()
    def bad() -> Any:
        with NonAsyncContext():
            try:
                yield kv.get("k")
            except RuntimeError as error:
                return str(error)

    assert bad() == (
        "an @asynq() function yielded inside a `with` block of a NonAsyncContext, which must not "
        "be active while the task is switched out; move the yield out of the `with` block"
    )


def test_asynq_without_parentheses() -> None:
    with pytest.raises(TypeError) as raised:

        @asynq.asynq  # type: ignore[arg-type]
        def f() -> None:
            pass

    assert str(raised.value) == (
        "asynq was applied directly to f; it takes options, so write `@asynq()` with parentheses"
    )


def test_async_proxy_without_parentheses() -> None:
    with pytest.raises(TypeError) as raised:

        @async_proxy  # type: ignore[arg-type]
        def f() -> None:
            pass

    assert str(raised.value) == (
        "async_proxy was applied directly to f; it takes options, so write `@async_proxy()` with "
        "parentheses"
    )


def test_asynq_on_an_async_def() -> None:
    with pytest.raises(TypeError) as raised:
        asynq.asynq()(native_coroutine)
    assert str(raised.value) == (
        "@asynq() cannot decorate `async def native_coroutine`: asynq functions are generators "
        "that yield futures. Write `def` with `yield f.asynq(...)`, or pass the coroutine "
        "function as asyncio_fn= to use it from asyncio code"
    )


def test_decorating_an_asynq_function_twice() -> None:
    with pytest.raises(TypeError) as raised:
        asynq.asynq()(helper)
    assert str(raised.value) == (
        f"@asynq() was applied to @asynq() {__name__}.helper, which is already an asynq function; "
        "decorate the plain function once"
    )


def test_decorating_something_that_is_not_callable() -> None:
    with pytest.raises(TypeError) as raised:
        asynq.asynq()(42)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "@asynq() expects a function, got int: 42; write `@asynq()` on the line above a `def`"
    )


def test_pure_with_a_sync_fn() -> None:
    with pytest.raises(TypeError) as raised:
        asynq.asynq(pure=True, sync_fn=len)
    assert str(raised.value) == (
        "asynq(pure=True, sync_fn=...) makes no sense: a pure asynq function has no synchronous "
        "form; drop one of the two"
    )


def test_a_non_callable_sync_fn() -> None:
    with pytest.raises(TypeError) as raised:

        @asynq.asynq(sync_fn="nope")  # type: ignore[arg-type]
        def f() -> None:
            pass

    assert str(raised.value) == "sync_fn must be callable, got str: 'nope'"


def test_a_proxy_that_returns_a_plain_value() -> None:
    @async_proxy()
    def not_a_future() -> Any:
        return 3

    with pytest.raises(TypeError) as raised:
        not_a_future()
    assert str(raised.value) == (
        "@async_proxy() function test_a_proxy_that_returns_a_plain_value.<locals>.not_a_future "
        "returned int 3; a proxy must return a future. Return ConstFuture(value) for a known "
        "value, or other_fn.asynq(...) to delegate"
    )


def test_setting_a_future_twice() -> None:
    future = ConstFuture(1)
    with pytest.raises(FutureIsAlreadyComputed) as raised:
        future.set_value(2)
    assert str(raised.value) == (
        "set_value(2) on <ConstFuture value=1>, which is already computed; a future is set once"
    )
    with pytest.raises(FutureIsAlreadyComputed) as raised:
        future.set_error(KeyError("k"))
    assert str(raised.value) == (
        "set_error(KeyError('k')) on <ConstFuture value=1>, which is already computed; a future "
        "is set once"
    )


def test_a_future_in_a_boolean_context() -> None:
    with pytest.raises(TypeError) as raised:
        if helper.asynq():
            pass
    assert str(raised.value) == (
        "AsyncTask object cannot be used as a truth value: a future is not its value. Use "
        "`(yield fut)` inside an @asynq() function or `fut.value()` outside one."
    )


def test_future_with_a_value_instead_of_a_provider() -> None:
    with pytest.raises(TypeError) as raised:
        Future(5)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "Future(value_provider) expects a callable taking no arguments, got int: 5; for a known "
        "value use ConstFuture(value)"
    )


def test_error_future_and_set_error_need_an_exception() -> None:
    with pytest.raises(TypeError) as raised:
        ErrorFuture("boom")  # type: ignore[arg-type]
    assert str(raised.value) == (
        "ErrorFuture(error) expects an exception instance, got str: 'boom'"
    )
    with pytest.raises(TypeError) as raised:
        FutureBase().set_error("boom")  # type: ignore[arg-type]
    assert str(raised.value) == "set_error() expects an exception instance, got str: 'boom'"


def test_a_value_provider_that_needs_its_own_value() -> None:
    holder: list[Future[int]] = []
    holder.append(Future(lambda: holder[0].value()))
    with pytest.raises(RuntimeError) as raised:
        holder[0].value()
    assert (
        str(raised.value) == "<Future pending> depends on itself: its value_provider asked for it"
    )


def test_a_task_waiting_on_itself() -> None:
    holder: list[Any] = []

    @asynq.asynq()
    def selfish() -> Any:
        yield None
        return holder[0].value()

    holder.append(selfish.asynq())
    with pytest.raises(AsyncTaskError) as raised:
        holder[0].value()
    assert str(raised.value) == (
        "<AsyncTask test_a_task_waiting_on_itself.<locals>.selfish() running> asked for its own "
        "value while running; a task cannot wait for itself (look for a synchronous call of the "
        "function inside its own body)"
    )


def test_a_future_that_can_never_be_computed() -> None:
    with pytest.raises(AsyncTaskError) as raised:
        FutureBase().value()
    assert str(raised.value) == (
        "<FutureBase pending> can never be computed: no task can run and no batch is pending. "
        "Either tasks wait on each other in a cycle, or the future is one that only external "
        "code sets (call set_value on it first)"
    )


def test_a_flush_that_forgets_an_item() -> None:
    kv = KeyKind()

    class Forgetful(RecordingBatch):
        def _flush(self) -> None:
            pass

    kv.active = Forgetful(kv)
    item = kv.get("k")
    with pytest.raises(BatchingError) as raised:
        item.value()
    assert str(raised.value) == (
        "Forgetful._flush() did not set a value for <KeyItem #0 pending> (item 0 of 1); _flush "
        "must call set_value or set_error on every item"
    )


def test_adding_an_item_to_a_batch_that_flushed() -> None:
    kv = KeyKind()
    old = kv.active
    kv.get("k").value()
    with pytest.raises(BatchingError) as raised:
        asynq.BatchItemBase(old)
    assert str(raised.value) == (
        "cannot add BatchItemBase to <RecordingBatch flushed, 1 item(s)>, which has already "
        "flushed; its _try_switch_active_batch() should have made a new batch the active one"
    )


def test_a_batch_without_flush() -> None:
    class NoFlush(asynq.BatchBase[Any]):
        def _try_switch_active_batch(self) -> None:
            pass

    item = asynq.BatchItemBase(NoFlush())
    with pytest.raises(NotImplementedError) as raised:
        item.value()
    assert str(raised.value) == (
        "NoFlush must define _flush(): fetch the items' keys and call set_value or set_error on "
        "each item"
    )


def test_wrapping_a_non_callable_with_get_async_fn() -> None:
    with pytest.raises(TypeError) as raised:
        get_async_fn(3, wrap_if_none=True)
    assert str(raised.value) == "get_async_fn() expects a callable, got int: 3"


def test_unpickling_an_asynq_function_that_is_not_importable() -> None:
    def make() -> Any:
        @asynq.asynq()
        def hidden() -> int:
            return 1

        return hidden

    data = pickle.dumps(make())
    with pytest.raises(TypeError) as raised:
        pickle.loads(data)
    assert str(raised.value) == (
        f"cannot unpickle asynq function {__name__}.test_unpickling_an_asynq_function_that_is_not_"
        "importable.<locals>.make.<locals>.hidden: it is not importable by that name (asynq "
        "functions pickle by reference, so they must live at module or class level)"
    )

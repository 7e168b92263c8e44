"""Decorators: one function, callable synchronously and as a task, on any kind of callable."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest
import qcore.decorators

import asynq
from asynq import (
    AsyncTask,
    ConstFuture,
    FutureBase,
    async_call,
    async_proxy,
    get_async_fn,
    get_async_or_sync_fn,
    has_async_fn,
    is_async_fn,
    is_pure_async_fn,
    lazy,
    make_async_decorator,
)
from asynq.decorators import AsyncDecorator, AsyncDecoratorBinder, PureAsyncDecorator


@asynq.asynq()
def add(a: int, b: int = 10) -> Any:
    """Adds."""
    yield None
    return a + b


@asynq.asynq(pure=True)
def pure_add(a: int, b: int) -> Any:
    yield None
    return a + b


@async_proxy()
def proxy_add(a: int, b: int) -> FutureBase[int]:
    return add.asynq(a, b)


def sync_twin(a: int, b: int = 10) -> str:
    return f"sync {a + b}"


@asynq.asynq(sync_fn=sync_twin)
def paired(a: int, b: int = 10) -> Any:
    yield None
    return f"async {a + b}"


class Model:
    def __init__(self, base: int) -> None:
        self.base = base

    @asynq.asynq()
    def method(self, x: int) -> Any:
        yield None
        return self.base + x

    @asynq.asynq()
    @classmethod
    def cmethod(cls, x: int) -> Any:
        yield None
        return (cls.__name__, x)

    @asynq.asynq()
    @staticmethod
    def smethod(x: int) -> Any:
        yield None
        return x * 3


class SubModel(Model):
    @asynq.asynq()
    def method(self, x: int) -> Any:
        parent = yield super().method.asynq(x)
        return parent * 100


def test_a_synchronous_call_returns_the_value() -> None:
    assert add(1, 2) == 3
    assert add(1, b=5) == 6


def test_asynq_returns_a_lazy_task_with_the_call_recorded() -> None:
    task = add.asynq(1, b=2)
    assert isinstance(task, AsyncTask)
    assert (task.fn, task.args, task.kwargs) == (add.fn, (1,), {"b": 2})
    assert not task.is_computed()
    assert task.value() == 3


def test_pure_functions_return_their_task_when_called() -> None:
    task = pure_add(2, 3)
    assert isinstance(task, AsyncTask)
    assert task.value() == 5
    assert not hasattr(pure_add, "asynq")


def test_a_proxy_looks_like_an_asynq_function() -> None:
    assert proxy_add(1, 1) == 2
    assert proxy_add.asynq(1, 1).value() == 2


def test_a_sync_fn_serves_synchronous_calls_and_the_body_serves_asynq() -> None:
    assert paired(1) == "sync 11"
    assert paired.asynq(1).value() == "async 11"


def test_methods_bind_their_instance_for_both_call_styles() -> None:
    model = Model(5)
    assert model.method(1) == 6
    assert model.method.asynq(2).value() == 7
    assert Model.method(model, 3) == 8


def test_classmethods_and_staticmethods_work_both_ways() -> None:
    assert Model.cmethod(1) == ("Model", 1)
    assert SubModel.cmethod.asynq(2).value() == ("SubModel", 2)
    assert Model(0).cmethod(3) == ("Model", 3)
    assert Model.smethod(2) == 6
    assert Model(0).smethod.asynq(3).value() == 9


class Factory:
    @classmethod
    @asynq.asynq()
    def make(cls, x: int) -> Any:
        yield None
        return (cls.__name__, x)

    @classmethod
    @asynq.async_proxy()
    def make_later(cls, x: int) -> Any:
        return asynq.ConstFuture((cls.__name__, x))


class SubFactory(Factory):
    pass


def test_a_classmethod_above_an_asynq_function_passes_the_class_in_every_call_style() -> None:
    # Python 3.13 no longer binds what a classmethod wraps through that object's __get__.
    assert SubFactory.make(1) == ("SubFactory", 1)
    assert SubFactory.make.asynq(2).value() == ("SubFactory", 2)
    assert SubFactory().make.asynq(3).value() == ("SubFactory", 3)
    assert asyncio.run(SubFactory.make.asyncio(4)) == ("SubFactory", 4)
    assert SubFactory.make_later(5) == ("SubFactory", 5)
    assert SubFactory.make_later.asynq(6).value() == ("SubFactory", 6)
    assert isinstance(vars(Factory)["make"], classmethod)
    assert "__asynq_classmethods__" not in vars(Factory)


def test_super_method_asynq_calls_the_parent_implementation() -> None:
    assert SubModel(1).method(2) == 300
    assert SubModel(1).method.asynq(2).value() == 300


def test_decorated_functions_keep_their_metadata() -> None:
    assert add.__name__ == "add"
    assert add.__qualname__ == "add"
    assert add.__doc__ == "Adds."
    assert add.__module__ == __name__
    assert add.__wrapped__ is add.fn
    assert repr(add) == f"@asynq() {__name__}.add"
    assert repr(Model.__dict__["method"]) == f"@asynq() {__name__}.Model.method"


def test_decorated_functions_and_methods_pickle_by_reference() -> None:
    assert pickle.loads(pickle.dumps(add)) is add
    assert pickle.loads(pickle.dumps(Model.__dict__["method"])) is Model.__dict__["method"]
    assert pickle.loads(pickle.dumps(proxy_add)) is proxy_add


def test_static_analysis_sees_the_decorator_classes_and_attributes() -> None:
    assert isinstance(add, AsyncDecorator)
    assert isinstance(add, qcore.decorators.DecoratorBase)
    assert isinstance(pure_add, PureAsyncDecorator) and not isinstance(pure_add, AsyncDecorator)
    assert add.task_cls is AsyncTask
    assert callable(add.fn) and add.fn.__name__ == "add"
    model = Model(1)
    bound = model.method
    assert isinstance(bound, AsyncDecoratorBinder)
    assert bound.decorator is Model.__dict__["method"]
    assert bound.instance is model
    with pytest.raises(TypeError):
        bool(add.asynq(1))


def test_introspection_helpers_classify_every_kind_of_callable() -> None:
    def plain(x: int) -> int:
        return x

    model = Model(1)
    rows = {
        "asynq": (has_async_fn(add), is_pure_async_fn(add), is_async_fn(add)),
        "pure": (has_async_fn(pure_add), is_pure_async_fn(pure_add), is_async_fn(pure_add)),
        "proxy": (has_async_fn(proxy_add), is_pure_async_fn(proxy_add), is_async_fn(proxy_add)),
        "bound": (
            has_async_fn(model.method),
            is_pure_async_fn(model.method),
            is_async_fn(model.method),
        ),
        "plain": (has_async_fn(plain), is_pure_async_fn(plain), is_async_fn(plain)),
    }
    assert rows == {
        "asynq": (True, False, True),
        "pure": (False, True, True),
        "proxy": (True, False, True),
        "bound": (True, False, True),
        "plain": (False, False, False),
    }


def test_get_async_fn_returns_the_future_returning_form() -> None:
    def plain(x: int) -> int:
        return x + 1

    assert get_async_fn(add)(1, 2).value() == 3  # type: ignore[misc]
    assert get_async_fn(pure_add) is pure_add
    assert get_async_fn(plain) is None
    wrapped = get_async_fn(plain, wrap_if_none=True)
    assert wrapped is not None and wrapped(1).value() == 2
    assert get_async_or_sync_fn(plain) is plain
    assert get_async_or_sync_fn(add)(1, 1).value() == 2


def test_async_call_calls_asynq_functions_asynchronously_and_others_directly() -> None:
    def plain(x: int) -> int:
        return x * 2

    def broken(x: int) -> int:
        raise ValueError(x)

    @asynq.asynq()
    def caller() -> Any:
        a = yield async_call.asynq(add, 1, 1)
        b = yield async_call.asynq(plain, 4)
        try:
            yield async_call.asynq(broken, 7)
        except ValueError as error:
            c = error.args
        return a, b, c

    assert caller() == (2, 8, (7,))
    assert async_call(plain, 2) == 4


def test_make_async_decorator_routes_calls_through_the_wrapper() -> None:
    calls = []

    def base(x: int) -> int:
        return x * 2

    def wrapper(*args: Any, **kwargs: Any) -> FutureBase[int]:
        calls.append((args, kwargs))
        return ConstFuture(base(*args, **kwargs))

    decorated = make_async_decorator(base, wrapper, "doubled")
    assert decorated(3) == 6
    assert decorated.asynq(x=4).value() == 8
    assert calls == [((3,), {}), ((), {"x": 4})]
    assert decorated.name() == "@doubled()"
    assert isinstance(decorated, AsyncDecorator)


def test_lazy_returns_a_future_computed_on_first_use() -> None:
    calls = []

    def compute(x: int) -> int:
        calls.append(x)
        return x + 1

    future = lazy(compute)(1)
    assert calls == []
    assert future.value() == 2
    assert future.value() == 2
    assert calls == [1]


def test_a_custom_task_class_receives_the_extra_decorator_options() -> None:
    class TaggedTask(AsyncTask[Any]):
        def __init__(self, generator: Any, fn: Any, args: Any, kwargs: Any, tag: str = "") -> None:
            super().__init__(generator, fn, args, kwargs)
            self.tag = tag

    @asynq.asynq(cls=TaggedTask, tag="hot")
    def tagged() -> Any:
        yield None
        return "ok"

    task = tagged.asynq()
    assert isinstance(task, TaggedTask) and task.tag == "hot"
    assert tagged() == "ok"
    assert tagged.task_cls is TaggedTask


def test_a_plain_body_called_synchronously_runs_as_the_active_task() -> None:
    seen: list[Any] = []

    @asynq.asynq()
    def plain(x: int) -> int:
        seen.append(asynq.get_active_task())
        return x + 1

    assert plain(1) == 2
    assert plain.asynq(1).value() == 2
    assert [type(task) for task in seen] == [AsyncTask, AsyncTask]
    assert [task.fn.__name__ for task in seen] == ["plain", "plain"]
    assert asynq.get_active_task() is None


def test_asyncio_returns_a_coroutine_that_computes_the_call() -> None:
    import asyncio

    assert asyncio.run(add.asyncio(1, 2)) == 3
    assert asyncio.run(Model(1).method.asyncio(1)) == 2
    assert asyncio.run(proxy_add.asyncio(2, 2)) == 4

    async def native(a: int, b: int) -> str:
        return f"native {a + b}"

    @asynq.asynq(asyncio_fn=native)
    def with_native(a: int, b: int) -> Any:
        yield None
        return a + b

    assert asyncio.run(with_native.asyncio(1, 1)) == "native 2"
    assert with_native(1, 1) == 2


def test_a_subclass_of_async_decorator_works_as_its_own_decorator() -> None:
    class Logged(AsyncDecorator[Any, Any]):
        calls: list[tuple[Any, ...]] = []

        def name(self) -> str:
            return "@logged()"

        def asynq(self, *args: Any, **kwargs: Any) -> Any:
            Logged.calls.append(args)
            return super().asynq(*args, **kwargs)

    def body(x: int) -> Any:
        yield None
        return x + 1

    logged = Logged(body, AsyncTask)
    assert logged.asynq(1).value() == 2
    assert logged(5) == 6
    assert (
        repr(logged)
        == f"@logged() {__name__}.test_a_subclass_of_async_decorator_works_as_its_own_decorator.<locals>.body"
    )
    assert Logged.calls == [(1,), (5,)]
    assert isinstance(logged, AsyncDecorator) and logged.fn is body and logged.task_cls is AsyncTask

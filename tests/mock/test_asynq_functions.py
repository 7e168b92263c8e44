"""Patching asynq functions: the mock answers .asynq/.asyncio and records every call in one place."""

from __future__ import annotations

import asyncio
import unittest.mock
from collections.abc import Iterator
from typing import Any

import pytest

from asynq import ConstFuture, async_call, debug, has_async_fn
from asynq import asynq as asynq_decorator
from asynq import mock_ as mock

from . import targets
from .targets import Model

call = mock.call
ORIGINAL_FETCH_NAME = targets.fetch_name


@pytest.fixture(autouse=True)
def _no_started_patches() -> Iterator[None]:
    yield
    mock.patch.stopall()


@asynq_decorator()
def fetch_twice(uid: int) -> Any:
    """Code under test: one async call and one sync call of fetch_name."""
    first = yield targets.fetch_name.asynq(uid)
    second = targets.fetch_name(uid + 1)
    return first, second


@asynq_decorator()
def caught(make: Any) -> Any:
    """Yields what ``make()`` returns and reports whether the yield raised."""
    future = make()
    try:
        value = yield future
    except Exception as error:  # noqa: BLE001 - the test inspects it
        return ("raised at the yield", type(error).__name__, str(error))
    return ("value", value)


# -- the mock of an @asynq() function -----------------------------------------------------------


def test_the_mock_of_an_asynq_function_answers_asynq_with_a_future_of_its_result() -> None:
    with mock.patch("mock.targets.fetch_name", return_value="Ann") as fetch:
        future = targets.fetch_name.asynq(1)
        assert isinstance(future, ConstFuture)
        assert future.value() == "Ann"
        assert targets.greeting(1) == "hello Ann"
        assert fetch.mock_calls == [call(1), call(1)]
    assert targets.fetch_name is ORIGINAL_FETCH_NAME


def test_sync_and_async_calls_are_recorded_on_the_same_mock_in_order() -> None:
    with mock.patch("mock.targets.fetch_name", side_effect=lambda uid: f"user{uid}") as fetch:
        assert fetch_twice(10) == ("user10", "user11")
        assert fetch.call_args_list == [call(10), call(11)]
        assert fetch.call_count == 2
        fetch.assert_any_call(10)
        fetch.assert_called_with(11)
        with pytest.raises(AssertionError, match="Expected 'fetch_name' to be called once"):
            fetch.assert_called_once_with(11)


def test_assert_called_once_with_accepts_a_single_async_call() -> None:
    with mock.patch("mock.targets.fetch_name", return_value="Ann") as fetch:
        assert targets.greeting(7) == "hello Ann"
        fetch.assert_called_once_with(7)


def test_the_asynq_form_records_the_call_when_it_is_made_not_when_it_is_yielded() -> None:
    with mock.patch("mock.targets.fetch_name") as fetch:
        targets.fetch_name.asynq(3)
        fetch.assert_called_once_with(3)


def test_asyncio_form_returns_a_coroutine_of_the_result_and_records_the_call() -> None:
    with mock.patch("mock.targets.fetch_name", return_value="Bo") as fetch:
        assert asyncio.run(targets.fetch_name.asyncio(2)) == "Bo"
        fetch.assert_called_once_with(2)


def test_a_side_effect_exception_surfaces_at_the_yield_not_at_the_asynq_call() -> None:
    with mock.patch("mock.targets.fetch_name", side_effect=KeyError("gone")) as fetch:
        assert caught(lambda: targets.fetch_name.asynq(1)) == (
            "raised at the yield",
            "KeyError",
            "'gone'",
        )
        fetch.assert_called_once_with(1)
        with pytest.raises(KeyError, match="gone"):
            targets.fetch_name(2)


def test_a_side_effect_exception_surfaces_at_the_await_of_asyncio() -> None:
    with mock.patch("mock.targets.fetch_name", side_effect=KeyError("gone")):
        coroutine = targets.fetch_name.asyncio(1)
        with pytest.raises(KeyError, match="gone"):
            asyncio.run(coroutine)


def test_side_effect_sequences_serve_sync_and_async_calls_alike() -> None:
    with mock.patch("mock.targets.fetch_name", side_effect=["a", ValueError("b"), "c"]):
        assert targets.fetch_name.asynq(1).value() == "a"
        assert caught(lambda: targets.fetch_name.asynq(2)) == (
            "raised at the yield",
            "ValueError",
            "b",
        )
        assert targets.fetch_name(3) == "c"


def test_the_mock_of_an_async_proxy_answers_asynq_too() -> None:
    with mock.patch("mock.targets.proxied_name", return_value="Cy") as proxied:
        assert targets.proxied_greeting(4) == "hi Cy"
        assert targets.proxied_name(5) == "Cy"
        assert proxied.mock_calls == [call(4), call(5)]


def test_the_mock_counts_as_an_asynq_function_for_async_call() -> None:
    with mock.patch("mock.targets.fetch_name", return_value="Di") as fetch:
        assert has_async_fn(targets.fetch_name)
        assert async_call.asynq(targets.fetch_name, 6).value() == "Di"
        fetch.assert_called_once_with(6)


def test_an_object_whose_asynq_is_an_instance_attribute_counts_as_an_asynq_function() -> None:
    with mock.patch.object(targets, "operation", return_value="mocked") as operation:
        assert targets.operation.asynq("k").value() == "mocked"
        operation.assert_called_once_with("k")


def test_a_pure_asynq_function_is_replaced_by_a_plain_mock() -> None:
    with mock.patch("mock.targets.pure_name", return_value="p") as pure:
        assert "asynq" not in vars(pure)
        assert targets.pure_name(1) == "p"


def test_a_plain_function_gets_no_asynq_form() -> None:
    with mock.patch("mock.targets.double") as double:
        assert "asynq" not in vars(double)


def test_the_asynq_form_survives_reset_mock_and_configure_mock() -> None:
    with mock.patch("mock.targets.fetch_name", return_value="x") as fetch:
        targets.fetch_name.asynq(1)
        fetch.reset_mock()
        fetch.configure_mock(return_value="y")
        assert targets.fetch_name.asynq(2).value() == "y"
        fetch.assert_called_once_with(2)


@pytest.mark.parametrize(
    "options",
    [
        {"spec": True},
        {"spec_set": True},
        {"new_callable": unittest.mock.Mock},
        {"new": unittest.mock.MagicMock(return_value="r")},
    ],
    ids=["spec", "spec_set", "new_callable", "new mock"],
)
def test_mocks_made_with_spec_new_callable_or_passed_as_new_answer_asynq(
    options: dict[str, Any],
) -> None:
    with mock.patch("mock.targets.fetch_name", **options) as fetch:
        fetch.return_value = "r"
        assert targets.greeting(1) == "hello r"
        assert targets.fetch_name.asyncio is not None
        fetch.assert_called_once_with(1)


def test_a_spec_set_mock_still_refuses_unknown_attributes() -> None:
    with mock.patch("mock.targets.fetch_name", spec_set=True) as fetch:
        with pytest.raises(AttributeError, match="Mock object has no attribute 'nope'"):
            fetch.nope = 1


def test_a_mock_whose_asynq_the_test_configured_by_hand_is_left_alone() -> None:
    handmade = unittest.mock.MagicMock()
    handmade.asynq.return_value = ConstFuture("by hand")
    with mock.patch("mock.targets.fetch_name", new=handmade):
        assert targets.greeting(1) == "hello by hand"
        handmade.asynq.assert_called_once_with(1)


def test_an_async_mock_passed_as_new_is_installed_unchanged() -> None:
    async_mock = unittest.mock.AsyncMock()
    with mock.patch("mock.targets.fetch_name", new=async_mock):
        assert targets.fetch_name is async_mock
        assert "asynq" not in vars(async_mock)


def test_a_non_callable_mock_gets_no_asynq_form() -> None:
    with mock.patch("mock.targets.fetch_name", new_callable=unittest.mock.NonCallableMock) as nc:
        assert "asynq" not in vars(nc)


class LazyProxy:
    """Records every attribute looked up on it, as a lazy settings object would load itself."""

    def __init__(self) -> None:
        self.looked_up: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.looked_up.append(name)
        raise AttributeError(name)


def test_patching_over_a_lazy_proxy_never_looks_anything_up_on_it() -> None:
    proxy = LazyProxy()
    with mock.patch.object(targets, "lazy", proxy, create=True):
        with mock.patch.object(targets, "lazy", new="replaced"):
            assert targets.lazy == "replaced"
        assert targets.lazy is proxy
    assert proxy.looked_up == []


# -- new= functions -----------------------------------------------------------------------------


def test_new_plain_function_becomes_usable_both_ways() -> None:
    def fake(uid: int) -> str:
        return f"fake{uid}"

    with mock.patch("mock.targets.fetch_name", new=fake) as installed:
        assert installed is targets.fetch_name
        assert installed.fn is fake
        assert targets.fetch_name(1) == "fake1"
        assert targets.greeting(2) == "hello fake2"
        assert asyncio.run(targets.fetch_name.asyncio(3)) == "fake3"
    assert targets.fetch_name is ORIGINAL_FETCH_NAME


def test_new_generator_function_runs_as_an_asynq_task() -> None:
    def fake(uid: int) -> Any:
        yield debug.sync()
        return f"gen{uid}"

    with mock.patch("mock.targets.fetch_name", new=fake):
        assert targets.greeting(1) == "hello gen1"
        assert targets.fetch_name(2) == "gen2"


def test_an_error_of_a_new_function_surfaces_at_the_yield() -> None:
    def fake(uid: int) -> str:
        raise LookupError(f"no user {uid}")

    with mock.patch("mock.targets.fetch_name", new=fake):
        future = targets.fetch_name.asynq(1)
        assert caught(lambda: future) == ("raised at the yield", "LookupError", "no user 1")


def test_new_asynq_function_and_new_values_are_installed_unchanged() -> None:
    @asynq_decorator()
    def other(uid: int) -> Any:
        return f"other{uid}"
        yield  # pragma: no cover

    with mock.patch("mock.targets.fetch_name", new=other):
        assert targets.fetch_name is other
    with mock.patch("mock.targets.fetch_name", new="not callable"):
        assert targets.fetch_name == "not callable"
    with mock.patch("mock.targets.fetch_name", new=len):
        assert targets.fetch_name is len


def test_new_plain_function_on_an_asynq_method_binds_the_instance() -> None:
    def fake_load(self: Model, x: int) -> tuple[str, int, int]:
        return ("fake", self.ident, x)

    with mock.patch.object(Model, "load", new=fake_load):
        model = Model(5)
        assert model.load(1) == ("fake", 5, 1)
        assert model.load.asynq(2).value() == ("fake", 5, 2)


def test_new_classmethod_and_staticmethod_keep_their_kind() -> None:
    def fake_cls(cls: type, x: int) -> tuple[str, int]:
        return (cls.__name__, x)

    def fake_static(x: int) -> int:
        return -x

    with (
        mock.patch.object(Model, "load_cls", new=classmethod(fake_cls)),
        mock.patch.object(Model, "load_static", new=staticmethod(fake_static)),
    ):
        assert Model(1).load_cls.asynq(2).value() == ("Model", 2)
        assert Model.load_static.asynq(3).value() == -3
        assert Model(1).load_static(4) == -4


# -- autospec -----------------------------------------------------------------------------------


def test_autospec_of_an_asynq_function_checks_the_signature_both_ways() -> None:
    with mock.patch("mock.targets.fetch_name", autospec=True) as fetch:
        fetch.return_value = "Al"
        assert targets.fetch_name(1) == "Al"
        assert targets.fetch_name.asynq(uid=2).value() == "Al"
        with pytest.raises(TypeError, match="too many positional arguments"):
            targets.fetch_name(1, 2)
        assert caught(lambda: targets.fetch_name.asynq(1, 2)) == (
            "raised at the yield",
            "TypeError",
            "too many positional arguments",
        )
        assert fetch.mock_calls == [call(1), call(uid=2)]
        fetch.assert_called_with(uid=2)


def test_autospec_of_an_asynq_method_records_the_instance_like_a_plain_method() -> None:
    model = Model(3)
    with mock.patch.object(Model, "load", autospec=True) as load:
        load.return_value = "loaded"
        assert model.load(1) == "loaded"
        assert model.load.asynq(2).value() == "loaded"
        assert asyncio.run(model.load.asyncio(3)) == "loaded"
        assert Model.load(model, 4) == "loaded"
        assert load.mock_calls == [call(model, 1), call(model, 2), call(model, 3), call(model, 4)]
        model.load.assert_called_with(model, 4)
        with pytest.raises(TypeError, match="missing a required argument: 'x'"):
            model.load()


@pytest.mark.parametrize("name", ["load_cls", "load_static"])
def test_autospec_of_an_asynq_classmethod_or_staticmethod_records_only_the_arguments(
    name: str,
) -> None:
    with mock.patch.object(Model, name, autospec=True) as patched:
        patched.return_value = "r"
        assert getattr(Model, name)(1) == "r"
        assert getattr(Model(), name).asynq(2).value() == "r"
        assert patched.call_args_list == [call(1), call(2)]
        with pytest.raises(TypeError, match="too many positional arguments"):
            getattr(Model, name)(1, 2)


def test_autospec_of_an_asynq_method_patched_on_an_instance_skips_self() -> None:
    model = Model(1)
    with mock.patch.object(model, "load", autospec=True) as load:
        model.load.asynq(5)
        load.assert_called_once_with(5)
    assert "load" not in vars(model)
    assert model.load(2) == ("load", 1, 2)


def test_autospec_return_value_and_side_effect_are_set_on_the_autospec() -> None:
    with mock.patch("mock.targets.fetch_name", autospec=True) as fetch:
        fetch.side_effect = ["one", KeyError("two")]
        assert targets.fetch_name.asynq(1).value() == "one"
        assert caught(lambda: targets.fetch_name.asynq(2))[:2] == (
            "raised at the yield",
            "KeyError",
        )
        assert repr(fetch) == "<autospec mock of asynq function mock.targets.fetch_name>"


def test_autospec_of_an_asynq_function_passed_explicitly_specs_the_replacement() -> None:
    with mock.patch("mock.targets.double", autospec=ORIGINAL_FETCH_NAME) as fake:
        fake.return_value = "n"
        assert targets.double.asynq(uid=1).value() == "n"


# -- methods, classmethods and staticmethods without autospec -----------------------------------


@pytest.mark.parametrize("name", ["load", "load_cls", "load_static"])
def test_a_mocked_asynq_method_of_any_kind_answers_asynq_without_binding(name: str) -> None:
    before = vars(Model)[name]
    with mock.patch.object(Model, name, return_value=name) as patched:
        assert getattr(Model(), name).asynq(1).value() == name
        assert getattr(Model, name)(2) == name
        assert patched.call_args_list == [call(1), call(2)]
    assert vars(Model)[name] is before


def test_code_reaching_every_kind_of_asynq_method_sees_the_mocks() -> None:
    with (
        mock.patch.object(Model, "load", return_value="m"),
        mock.patch.object(Model, "load_cls", return_value="c"),
        mock.patch.object(Model, "load_static", return_value="s"),
    ):
        assert Model(1).describe(9) == ("m", "c", "s")
    assert Model(1).describe(9) == (("load", 1, 9), ("load_cls", "Model", 9), ("load_static", 9))


def test_patching_an_asynq_method_on_one_instance_leaves_other_instances_alone() -> None:
    patched, other = Model(1), Model(2)
    with mock.patch.object(patched, "load", return_value="mine") as load:
        assert patched.load.asynq(1).value() == "mine"
        assert other.load.asynq(1).value() == ("load", 2, 1)
        load.assert_called_once_with(1)


@pytest.mark.parametrize(
    "options", [{}, {"spec": True}, {"spec_set": True}, {"autospec": True}], ids=repr
)
def test_a_mocked_class_answers_asynq_on_the_asynq_methods_of_the_original(
    options: dict[str, Any],
) -> None:
    with mock.patch("mock.targets.Model", **options) as model_class:
        model_class.return_value.load.return_value = "loaded"
        model_class.load_cls.return_value = "class-level"
        instance = targets.Model(1)
        assert instance.load.asynq(2).value() == "loaded"
        assert targets.Model.load_cls.asynq(3).value() == "class-level"
        assert "asynq" in vars(instance.load_static)
        assert "asynq" not in vars(instance.plain)
        assert model_class.mock_calls == [call(1), call().load(2), call.load_cls(3)]


# -- nested patches -----------------------------------------------------------------------------


def test_a_nested_patch_of_a_mocked_asynq_function_answers_asynq_and_restores_the_outer() -> None:
    with mock.patch("mock.targets.fetch_name", return_value="outer") as outer:
        with mock.patch("mock.targets.fetch_name", return_value="inner") as inner:
            assert targets.greeting(1) == "hello inner"
        assert targets.fetch_name is outer
        assert targets.greeting(2) == "hello outer"
        assert inner.call_args_list == [call(1)]
        assert outer.call_args_list == [call(2)]


def test_unittest_patch_inside_asynq_patch_gives_a_plain_mock_and_restores_ours() -> None:
    with mock.patch("mock.targets.fetch_name") as ours:
        with unittest.mock.patch("mock.targets.fetch_name") as theirs:
            assert "asynq" not in vars(theirs)
        assert targets.fetch_name is ours


# -- decorators ---------------------------------------------------------------------------------


def test_a_decorated_asynq_function_stays_an_asynq_function_and_gets_the_mock() -> None:
    @mock.patch("mock.targets.fetch_name", return_value="deco")
    @asynq_decorator()
    def check(prefix: str, fetch: Any) -> Any:
        greeting = yield targets.greeting.asynq(1)
        return prefix, greeting, fetch.call_count

    assert has_async_fn(check)
    assert check("sync") == ("sync", "hello deco", 1)
    assert check.asynq("async").value() == ("async", "hello deco", 1)
    assert check.__name__ == "check"
    assert targets.fetch_name is ORIGINAL_FETCH_NAME


def test_stacked_decorators_on_an_asynq_function_pass_mocks_bottom_up() -> None:
    @mock.patch("mock.targets.proxied_name", return_value="p")
    @mock.patch("mock.targets.fetch_name", return_value="f")
    @asynq_decorator()
    def check(fetch: Any, proxied: Any) -> Any:
        values = yield fetch.asynq(), proxied.asynq()
        return values

    assert check() == ("f", "p")


def test_a_decorated_asynq_method_binds_self() -> None:
    class Checks:
        @mock.patch("mock.targets.fetch_name", return_value="m")
        @asynq_decorator()
        def run(self, fetch: Any) -> Any:
            value = yield targets.fetch_name.asynq(1)
            return type(self).__name__, value

    assert Checks().run() == ("Checks", "m")


def test_a_decorated_generator_under_asynq_is_patched_for_its_whole_run() -> None:
    @asynq_decorator()
    @mock.patch("mock.targets.fetch_name", return_value="gen")
    def check(fetch: Any) -> Any:
        first = yield targets.fetch_name.asynq(1)
        yield debug.sync()
        second = yield targets.fetch_name.asynq(2)
        return first, second, fetch.call_count

    assert check() == ("gen", "gen", 2)
    assert targets.fetch_name is ORIGINAL_FETCH_NAME


def test_decorators_of_both_modules_stack_and_pass_mocks_bottom_up() -> None:
    @unittest.mock.patch("mock.targets.double", return_value="theirs")
    @mock.patch("mock.targets.fetch_name", return_value="ours")
    def ours_below(fetch: Any, double: Any) -> Any:
        return targets.fetch_name.asynq(1).value(), double()

    @mock.patch("mock.targets.fetch_name", return_value="ours")
    @unittest.mock.patch("mock.targets.double", return_value="theirs")
    def theirs_below(double: Any, fetch: Any) -> Any:
        return targets.fetch_name.asynq(1).value(), double()

    assert ours_below() == ("ours", "theirs")
    assert theirs_below() == ("ours", "theirs")


def test_the_package_exposes_this_module_as_asynq_mock() -> None:
    """Needs ``from . import mock_ as mock`` in asynq/__init__.py (the package's public name)."""
    import asynq as package

    assert getattr(package, "mock", None) is mock, (
        "asynq/__init__.py does not bind asynq.mock; add `from . import mock_ as mock`"
    )

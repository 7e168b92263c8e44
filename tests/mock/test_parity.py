"""asynq.mock behaves like unittest.mock for everything unittest.mock does.

Every test here runs twice, once with ``unittest.mock`` and once with ``asynq.mock``, and asserts
the same exact outcome for both: passing for both is the parity claim.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import inspect
import re
import sys
import types
import unittest.mock
from collections.abc import Iterator
from typing import Any

import pytest

import asynq.mock_

from . import targets
from .targets import Base, Model

IMPLEMENTATIONS = {"unittest.mock": unittest.mock, "asynq.mock": asynq.mock_}


@pytest.fixture(params=list(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest) -> Iterator[Any]:
    module = IMPLEMENTATIONS[request.param]
    yield module
    module.patch.stopall()


ORIGINAL_DOUBLE = targets.double
ORIGINAL_ADD = targets.add


# -- the module ---------------------------------------------------------------------------------


def test_every_public_name_of_unittest_mock_is_available_and_identical_except_patch() -> None:
    for name in unittest.mock.__all__:
        if name != "patch":
            assert getattr(asynq.mock_, name) is getattr(unittest.mock, name), name
    assert asynq.mock_.InvalidSpecError is unittest.mock.InvalidSpecError  # type: ignore[attr-defined]


def test_public_names_unittest_mock_adds_later_are_looked_up_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(unittest.mock, "NewerMock", "newer", raising=False)
    assert asynq.mock_.NewerMock == "newer"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="^module 'asynq.mock' has no attribute '_patch'$"):
        asynq.mock_._patch  # type: ignore[attr-defined]  # noqa: B018


def _parameters(fn: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_patch_signatures_match_unittest_mock() -> None:
    pairs = [
        (unittest.mock.patch, asynq.mock_.patch),
        (unittest.mock.patch.object, asynq.mock_.patch.object),
        (unittest.mock.patch.multiple, asynq.mock_.patch.multiple),
        (unittest.mock.patch.dict, asynq.mock_.patch.dict),
    ]
    for theirs, ours in pairs:
        assert _parameters(ours) == _parameters(theirs)
    assert asynq.mock_.patch.TEST_PREFIX == unittest.mock.patch.TEST_PREFIX == "test"


# -- patch: context manager, decorator, start/stop ----------------------------------------------


def test_a_context_manager_patch_replaces_the_target_and_restores_the_same_object(
    impl: Any,
) -> None:
    with impl.patch("mock.targets.double") as created:
        assert targets.double is created
        assert isinstance(created, unittest.mock.MagicMock)
        created.return_value = 10
        assert targets.double(3) == 10
        created.assert_called_once_with(3)
    assert targets.double is ORIGINAL_DOUBLE


def test_the_created_mock_is_named_after_the_attribute(impl: Any) -> None:
    with impl.patch("mock.targets.double") as created:
        assert repr(created).startswith("<MagicMock name='double' id=")


def test_a_patch_is_undone_when_the_block_raises(impl: Any) -> None:
    with pytest.raises(KeyError), impl.patch("mock.targets.double"):
        raise KeyError("inside")
    assert targets.double is ORIGINAL_DOUBLE


def test_a_decorator_patch_passes_the_created_mock_as_the_last_positional_argument(
    impl: Any,
) -> None:
    @impl.patch("mock.targets.double", return_value=5)
    def check(first: str, double_mock: Any) -> tuple[str, int, bool]:
        return first, targets.double(1), targets.double is double_mock

    assert check("a") == ("a", 5, True)
    assert targets.double is ORIGINAL_DOUBLE


def test_stacked_decorators_pass_their_mocks_bottom_up(impl: Any) -> None:
    @impl.patch("mock.targets.add", return_value="add")
    @impl.patch("mock.targets.double", return_value="double")
    def check(double_mock: Any, add_mock: Any) -> tuple[Any, Any]:
        return double_mock(), add_mock()

    assert check() == ("double", "add")
    assert check.patchings[0].attribute == "double"


def test_a_decorator_patch_with_new_passes_no_argument_and_installs_new(impl: Any) -> None:
    @impl.patch("mock.targets.double", new=abs)
    def check() -> int:
        return targets.double(-4)

    assert check() == 4
    assert targets.double is ORIGINAL_DOUBLE


def test_a_decorated_function_is_patched_afresh_on_every_call(impl: Any) -> None:
    seen = []

    @impl.patch("mock.targets.double")
    def check(double_mock: Any) -> None:
        seen.append(double_mock)

    check()
    check()
    assert seen[0] is not seen[1]
    assert check.__name__ == "check"


def test_a_decorated_coroutine_function_is_patched_while_it_runs(impl: Any) -> None:
    @impl.patch("mock.targets.double", return_value=7)
    async def check(double_mock: Any) -> int:
        await asyncio.sleep(0)
        return targets.double(1)

    assert asyncio.run(check()) == 7
    assert targets.double is ORIGINAL_DOUBLE


def test_a_class_decorator_patches_each_method_named_with_the_test_prefix(impl: Any) -> None:
    @impl.patch("mock.targets.double", return_value=9)
    class Checks:
        def test_one(self, double_mock: Any) -> int:
            return targets.double(1)

        def helper(self) -> Any:
            return targets.double

        not_callable_test_value = 3

    checks = Checks()
    assert checks.test_one() == 9
    assert checks.helper() is ORIGINAL_DOUBLE


def test_the_test_prefix_can_be_changed(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(impl.patch, "TEST_PREFIX", "check")

    @impl.patch("mock.targets.double", return_value=9)
    class Checks:
        def check_one(self, double_mock: Any) -> int:
            return targets.double(1)

    assert Checks().check_one() == 9


def test_start_applies_until_stop_and_a_second_stop_returns_none(impl: Any) -> None:
    patcher = impl.patch("mock.targets.double", return_value=1)
    created = patcher.start()
    assert targets.double is created
    assert patcher.stop() is False
    assert targets.double is ORIGINAL_DOUBLE
    assert patcher.stop() is None


def test_stopall_stops_every_started_patch(impl: Any) -> None:
    impl.patch("mock.targets.double").start()
    impl.patch("mock.targets.add").start()
    impl.patch.dict(targets.SETTINGS, mode="test").start()
    impl.patch.stopall()
    assert targets.double is ORIGINAL_DOUBLE
    assert targets.add is ORIGINAL_ADD
    assert targets.SETTINGS == {"mode": "prod", "retries": 3}


def test_nested_patches_of_one_attribute_restore_in_order(impl: Any) -> None:
    with impl.patch("mock.targets.double", return_value=1) as outer:
        with impl.patch("mock.targets.double", return_value=2) as inner:
            assert targets.double() == 2
        assert targets.double is outer
        assert inner.call_count == 1
    assert targets.double is ORIGINAL_DOUBLE


# -- what gets created ----------------------------------------------------------------------------


def _is_non_callable_magic(obj: Any) -> bool:
    # Each mock gets its own subclass, so check the family rather than the exact type.
    return isinstance(obj, unittest.mock.NonCallableMagicMock) and not callable(obj)


def test_keyword_arguments_configure_the_created_mock(impl: Any) -> None:
    with impl.patch(
        "mock.targets.double", return_value=3, **{"helper.return_value": 4, "name_attr": "x"}
    ) as created:
        assert targets.double() == 3
        assert created.helper() == 4
        assert created.name_attr == "x"


def test_side_effect_exceptions_raise_from_the_call(impl: Any) -> None:
    with impl.patch("mock.targets.double", side_effect=ValueError("bad")):
        with pytest.raises(ValueError, match="^bad$"):
            targets.double(1)


def test_new_callable_makes_the_replacement(impl: Any) -> None:
    with impl.patch("mock.targets.double", new_callable=unittest.mock.NonCallableMock) as made:
        assert isinstance(made, unittest.mock.NonCallableMock)
        assert not isinstance(made, unittest.mock.NonCallableMagicMock)
        assert not callable(made)
    with impl.patch("mock.targets.double", new_callable=lambda: "made") as made:
        assert made == "made"
        assert targets.double == "made"


def test_spec_true_takes_the_spec_from_the_original(impl: Any) -> None:
    with impl.patch.object(Model, "plain", spec=True) as created:
        assert isinstance(created, unittest.mock.MagicMock)
        with pytest.raises(AttributeError, match="Mock object has no attribute 'nope'"):
            created.nope  # noqa: B018
    with impl.patch.object(Model, "label", spec=True) as created:
        assert _is_non_callable_magic(created)


def test_spec_set_true_refuses_setting_attributes_the_original_lacks(impl: Any) -> None:
    with impl.patch("mock.targets.double", spec_set=True) as created:
        with pytest.raises(AttributeError, match="Mock object has no attribute 'nope'"):
            created.nope = 1


def test_an_explicit_spec_object_with_spec_set_true_becomes_the_spec_set(impl: Any) -> None:
    with impl.patch("mock.targets.double", spec=["known"], spec_set=True) as created:
        created.known = 1
        with pytest.raises(AttributeError):
            created.other = 1
        assert _is_non_callable_magic(created)


def test_a_class_patched_with_a_spec_gives_its_instances_the_spec(impl: Any) -> None:
    with impl.patch("mock.targets.Model", spec=True) as created:
        instance = targets.Model()
        assert instance is created.return_value
        assert _is_non_callable_magic(instance)
        instance.plain(1)
        with pytest.raises(AttributeError):
            instance.missing  # noqa: B018
        assert created.mock_calls == [unittest.mock.call(), unittest.mock.call().plain(1)]


def test_an_async_def_original_is_replaced_by_an_async_mock(impl: Any) -> None:
    with impl.patch("mock.targets.fetch_remote", return_value=5) as created:
        assert isinstance(created, unittest.mock.AsyncMock)
        assert asyncio.run(targets.fetch_remote(1)) == 5
        created.assert_awaited_once_with(1)


def test_autospec_checks_the_signature_of_a_function(impl: Any) -> None:
    with impl.patch("mock.targets.add", autospec=True) as created:
        created.return_value = 3
        assert targets.add(1, y=2) == 3
        with pytest.raises(TypeError, match="too many positional arguments"):
            targets.add(1, 2, 3)
        created.assert_called_once_with(1, y=2)


def test_autospec_of_a_method_records_the_instance(impl: Any) -> None:
    model = Model()
    with impl.patch.object(Model, "plain", autospec=True) as created:
        created.return_value = "r"
        assert model.plain(1) == "r"
        created.assert_called_once_with(model, 1)
        with pytest.raises(TypeError, match="missing a required argument: 'x'"):
            Model.plain(1)


@pytest.mark.parametrize("name", ["plain_cls", "plain_static"])
def test_autospec_of_a_classmethod_or_staticmethod_records_only_the_arguments(
    impl: Any, name: str
) -> None:
    with impl.patch.object(Model, name, autospec=True) as created:
        getattr(Model(), name)(1)
        getattr(Model, name)(2)
        assert created.call_args_list == [unittest.mock.call(1), unittest.mock.call(2)]
        if sys.version_info >= (3, 11):
            with pytest.raises(TypeError, match="too many positional arguments"):
                getattr(Model, name)(1, 2)
        else:  # unittest.mock checks these signatures from Python 3.11 on, and so do we
            getattr(Model, name)(1, 2)
            assert created.call_args_list[-1] == unittest.mock.call(1, 2)


def test_autospec_of_a_method_patched_on_an_instance_skips_self(impl: Any) -> None:
    model = Model()
    with impl.patch.object(model, "plain", autospec=True) as created:
        model.plain(3)
        created.assert_called_once_with(3)
    assert "plain" not in vars(model)


def test_autospec_of_a_class_specs_its_instances(impl: Any) -> None:
    with impl.patch("mock.targets.Model", autospec=True) as created:
        instance = targets.Model(1)
        instance.plain(2)
        with pytest.raises(TypeError):
            instance.plain()
        with pytest.raises(TypeError):
            targets.Model(1, 2, 3)
        assert created.mock_calls[:2] == [unittest.mock.call(1), unittest.mock.call().plain(2)]


def test_autospec_accepts_an_explicit_object_as_the_spec(impl: Any) -> None:
    with impl.patch("mock.targets.double", autospec=ORIGINAL_ADD) as created:
        targets.double(1, y=5)
        created.assert_called_once_with(1, y=5)


# -- where and what may be patched --------------------------------------------------------------


def test_a_missing_attribute_is_an_error_unless_create_is_true(impl: Any) -> None:
    with pytest.raises(AttributeError, match="does not have the attribute 'missing'"):
        with impl.patch("mock.targets.missing"):
            pass  # pragma: no cover
    with impl.patch("mock.targets.missing", create=True, new=1):
        assert targets.missing == 1
    assert not hasattr(targets, "missing")


def test_a_builtin_can_be_patched_on_a_module_that_does_not_define_it(impl: Any) -> None:
    with impl.patch("mock.targets.open", new="fake open"):
        assert targets.open == "fake open"
    assert not hasattr(targets, "open")
    assert builtins.open is open


def test_patching_an_instance_attribute_that_lives_on_the_class_removes_it_afterwards(
    impl: Any,
) -> None:
    model = Model()
    with impl.patch.object(model, "label", new="instance"):
        assert model.label == "instance"
        assert Model.label == "model"
    assert "label" not in vars(model)
    assert model.label == "model"


def test_patching_an_inherited_class_attribute_leaves_the_base_alone(impl: Any) -> None:
    with impl.patch.object(Model, "inherited", new="patched"):
        assert Model.inherited == "patched"
        assert Base.inherited == "base value"
    assert "inherited" not in vars(Model)
    assert Model.inherited == "base value"


@pytest.mark.parametrize("name", ["plain", "plain_cls", "plain_static"])
def test_a_method_of_any_kind_is_restored_as_the_same_descriptor(impl: Any, name: str) -> None:
    before = vars(Model)[name]
    with impl.patch.object(Model, name, return_value="mocked"):
        assert getattr(Model(), name)(1) == "mocked"
        assert getattr(Model, name)(1) == "mocked"
    assert vars(Model)[name] is before
    assert getattr(Model(), name)(1) == (name, 1)


def test_patch_imports_the_target_module_when_entered(impl: Any) -> None:
    name = "asynq_mock_lazy_target"
    module = types.ModuleType(name)
    module.value = "original"  # type: ignore[attr-defined]
    patcher = impl.patch(f"{name}.value", new="patched")
    sys.modules[name] = module
    try:
        with patcher:
            assert module.value == "patched"  # type: ignore[attr-defined]
    finally:
        del sys.modules[name]
    assert module.value == "original"  # type: ignore[attr-defined]


def test_a_patcher_can_be_copied_with_the_same_arguments(impl: Any) -> None:
    twin = impl.patch("mock.targets.double", new="twin").copy()
    with twin:
        assert targets.double == "twin"


# -- patch.dict ---------------------------------------------------------------------------------


def test_patch_dict_sets_items_and_restores_the_exact_contents(impl: Any) -> None:
    settings = {"mode": "prod", "retries": 3}
    with impl.patch.dict(settings, {"mode": "test"}, extra=1) as patched:
        assert patched is settings
        assert settings == {"mode": "test", "retries": 3, "extra": 1}
        settings["added_inside"] = True
    assert settings == {"mode": "prod", "retries": 3}


def test_patch_dict_with_clear_starts_from_an_empty_dictionary(impl: Any) -> None:
    settings = {"mode": "prod"}
    with impl.patch.dict(settings, [("only", 1)], clear=True):
        assert settings == {"only": 1}
    assert settings == {"mode": "prod"}


def test_patch_dict_finds_a_dictionary_by_dotted_path(impl: Any) -> None:
    with impl.patch.dict("mock.targets.SETTINGS", mode="test") as patched:
        assert patched is targets.SETTINGS
        assert targets.SETTINGS["mode"] == "test"
    assert targets.SETTINGS == {"mode": "prod", "retries": 3}


def test_patch_dict_as_a_decorator_patches_each_call(impl: Any) -> None:
    @impl.patch.dict("mock.targets.SETTINGS", mode="test")
    def check() -> str:
        return str(targets.SETTINGS["mode"])

    assert check() == "test"
    assert check() == "test"
    assert targets.SETTINGS["mode"] == "prod"


def test_patch_dict_decorates_coroutine_functions_and_classes(impl: Any) -> None:
    @impl.patch.dict("mock.targets.SETTINGS", mode="async")
    async def check() -> Any:
        return targets.SETTINGS["mode"]

    @impl.patch.dict("mock.targets.SETTINGS", mode="class")
    class Checks:
        def test_mode(self) -> Any:
            return targets.SETTINGS["mode"]

    assert asyncio.run(check()) == "async"
    assert Checks().test_mode() == "class"
    assert targets.SETTINGS["mode"] == "prod"


def test_patch_dict_start_and_stop(impl: Any) -> None:
    patcher = impl.patch.dict(targets.SETTINGS, mode="started")
    assert patcher.start() is targets.SETTINGS
    assert targets.SETTINGS["mode"] == "started"
    assert patcher.stop() is False
    assert targets.SETTINGS["mode"] == "prod"
    assert patcher.stop() is None


def test_patch_dict_exited_without_entering_does_nothing(impl: Any) -> None:
    assert not impl.patch.dict(targets.SETTINGS, mode="x").__exit__(None, None, None)
    assert targets.SETTINGS["mode"] == "prod"


class BareMapping:
    """A mapping with item access and iteration only: no copy(), update() or clear()."""

    def __init__(self, **items: Any) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))


def test_patch_dict_works_on_a_mapping_with_only_item_access_and_iteration(impl: Any) -> None:
    mapping = BareMapping(a=1)
    with impl.patch.dict(mapping, {"b": 2}, clear=True):
        assert mapping._items == {"b": 2}
    assert mapping._items == {"a": 1}


def test_patch_dict_keeps_the_type_of_an_ordered_dict(impl: Any) -> None:
    ordered = collections.OrderedDict(a=1)
    with impl.patch.dict(ordered, b=2):
        assert list(ordered) == ["a", "b"]
    assert type(ordered) is collections.OrderedDict
    assert list(ordered) == ["a"]


# -- patch.multiple -----------------------------------------------------------------------------


def test_patch_multiple_as_a_context_manager_returns_the_created_mocks_by_name(
    impl: Any,
) -> None:
    with impl.patch.multiple("mock.targets", double=impl.DEFAULT, add="fixed") as created:
        assert list(created) == ["double"]
        assert targets.double is created["double"]
        assert targets.add == "fixed"
    assert targets.double is ORIGINAL_DOUBLE
    assert targets.add is ORIGINAL_ADD


def test_patch_multiple_as_a_decorator_passes_created_mocks_by_keyword(impl: Any) -> None:
    @impl.patch.multiple(targets, double=impl.DEFAULT, add=impl.DEFAULT)
    def check(tag: str, **mocks: Any) -> tuple[str, list[str], bool]:
        return tag, sorted(mocks), targets.add is mocks["add"]

    assert check("t") == ("t", ["add", "double"], True)


def test_patch_multiple_combines_with_positional_mocks_of_other_patches(impl: Any) -> None:
    @impl.patch("mock.targets.fetch_remote")
    @impl.patch.multiple(targets, double=impl.DEFAULT)
    def check(remote: Any, double: Any) -> bool:
        return targets.fetch_remote is remote and targets.double is double

    assert check() is True


def test_patch_multiple_applies_spec_arguments_to_every_attribute(impl: Any) -> None:
    with impl.patch.multiple(targets, double=impl.DEFAULT, add=impl.DEFAULT, spec_set=True) as m:
        with pytest.raises(AttributeError):
            m["add"].nope = 1


def test_patch_multiple_leaves_nothing_patched_when_one_attribute_is_missing(
    impl: Any,
) -> None:
    with pytest.raises(AttributeError, match="does not have the attribute 'missing'"):
        with impl.patch.multiple(targets, double="x", missing="y"):
            pass  # pragma: no cover
    assert targets.double is ORIGINAL_DOUBLE


# -- errors: same types, and asynq.mock's messages begin with unittest.mock's ---------------------

ERROR_CASES = {
    "a target without a dot": lambda m: m.patch("double"),
    "a target that is not a string": lambda m: m.patch(42),
    "patch.object given a string": lambda m: m.patch.object("mock.targets", "double"),
    "new and new_callable": lambda m: m.patch("mock.targets.double", new=1, new_callable=list),
    "autospec and new_callable": lambda m: m.patch(
        "mock.targets.double", autospec=True, new_callable=list
    ),
    "a misspelt autospec": lambda m: m.patch("mock.targets.double", autospect=True),
    "a misspelt spec_set": lambda m: m.patch.object(targets, "double", set_spec=True),
    "a spec that is a mock": lambda m: m.patch("mock.targets.double", spec=m.Mock()),
    "a spec_set that is a mock": lambda m: m.patch("mock.targets.double", spec_set=m.Mock()),
    "patch.multiple without attributes": lambda m: m.patch.multiple(targets),
    "spec and autospec": lambda m: m.patch("mock.targets.double", spec=True, autospec=True).start(),
    "an explicit spec_set with spec": lambda m: m.patch(
        "mock.targets.double", spec=True, spec_set=[1]
    ).start(),
    "spec with create": lambda m: m.patch("mock.targets.nope", create=True, spec=True).start(),
    "autospec with create": lambda m: m.patch(
        "mock.targets.nope", create=True, autospec=True
    ).start(),
    "autospec and new": lambda m: m.patch("mock.targets.double", new=1, autospec=True).start(),
    "keyword arguments with new": lambda m: m.patch(
        "mock.targets.double", new=1, return_value=2
    ).start(),
    "a missing attribute": lambda m: m.patch("mock.targets.nope").start(),
    "a missing module": lambda m: m.patch("mock.no_such_module.f").start(),
    "autospec of a mocked-out target": lambda m: m.patch.object(
        m.Mock(), "attr", autospec=True
    ).start(),
    "autospec from a mock": lambda m: m.patch.object(targets, "double", autospec=m.Mock()).start(),
}


def _failure(module: Any, case: str) -> BaseException:
    try:
        ERROR_CASES[case](module)
    except BaseException as error:  # noqa: BLE001 - the error is what the test compares
        module.patch.stopall()
        return error
    module.patch.stopall()
    raise AssertionError(f"{case}: {module.__name__} raised nothing")


def _without_ids(message: str) -> str:
    return re.sub(r"id='\d+'", "id=...", message)


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_misuse_raises_the_same_error_with_the_same_message_start(case: str) -> None:
    theirs = _failure(unittest.mock, case)
    ours = _failure(asynq.mock_, case)
    assert type(ours) is type(theirs)
    assert _without_ids(str(ours)).startswith(_without_ids(str(theirs)).rstrip("."))
    assert targets.double is ORIGINAL_DOUBLE

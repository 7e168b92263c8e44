"""Every error asynq.mock raises, pinned word for word: what was received, what was expected, the fix.

Errors that unittest.mock also raises keep its message as their beginning (test_parity checks
that) and add the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asynq import mock_ as mock

from . import targets
from .targets import Model


@pytest.fixture(autouse=True)
def _no_started_patches() -> Iterator[None]:
    yield
    mock.patch.stopall()


def raises_exactly(kind: type[BaseException], message: str, action: Callable[[], Any]) -> None:
    with pytest.raises(kind, match=f"^{re.escape(message)}$"):
        action()


# -- the .asynq and .asyncio of a mock ----------------------------------------------------------


@pytest.mark.parametrize(("form", "wrapped"), [("asynq", "a future"), ("asyncio", "a coroutine")])
def test_setting_an_attribute_on_the_async_form_of_a_mock_says_to_set_it_on_the_mock(
    form: str, wrapped: str
) -> None:
    with mock.patch("mock.targets.fetch_name"):
        raises_exactly(
            AttributeError,
            f"cannot set 'return_value' on mock.targets.fetch_name.{form}: .{form}(...) of a "
            f"mock calls the mock itself and wraps its result in {wrapped}, so set it on the "
            "mock instead: `mock.return_value = ...` where mock is what patch() returned "
            "(the object now at mock.targets.fetch_name)",
            lambda: setattr(getattr(targets.fetch_name, form), "return_value", 1),
        )


def test_setting_side_effect_on_the_asynq_of_an_autospecced_method_names_the_class() -> None:
    with mock.patch.object(Model, "load", autospec=True):
        raises_exactly(
            AttributeError,
            "cannot set 'side_effect' on Model.load.asynq: .asynq(...) of a mock calls the "
            "mock itself and wraps its result in a future, so set it on the mock instead: "
            "`mock.side_effect = ...` where mock is what patch() returned (the object now at "
            "Model.load)",
            lambda: setattr(Model(1).load.asynq, "side_effect", KeyError()),
        )


def test_asserting_on_the_asynq_of_a_mock_says_calls_are_recorded_on_the_mock() -> None:
    with mock.patch("mock.targets.fetch_name"):
        raises_exactly(
            AttributeError,
            "mock.targets.fetch_name.asynq has no attribute 'assert_called_once_with': "
            ".asynq(...) of a mock calls the mock itself and wraps its result in a future, so "
            "calls are recorded on the mock, sync and async together; use "
            "`mock.assert_called_once_with` where mock is what patch() returned (the object "
            "now at mock.targets.fetch_name)",
            lambda: targets.fetch_name.asynq.assert_called_once_with(1),
        )


def test_deleting_an_attribute_of_the_asynq_of_a_mock_is_refused() -> None:
    with mock.patch.object(targets, "fetch_name"):
        raises_exactly(
            AttributeError,
            "cannot delete 'return_value' from mock.targets.fetch_name.asynq: .asynq(...) of a "
            "mock calls the mock itself and wraps its result in a future and has no attributes "
            "of its own; configure the mock instead, where mock is what patch() returned (the "
            "object now at mock.targets.fetch_name)",
            lambda: delattr(targets.fetch_name.asynq, "return_value"),
        )


def test_configure_mock_through_the_asynq_of_a_mock_is_refused() -> None:
    with mock.patch("mock.targets.fetch_name") as fetch:
        with pytest.raises(AttributeError, match=r"^cannot set 'return_value' on mock\.targets"):
            fetch.configure_mock(**{"asynq.return_value": 1})


def test_the_asynq_of_a_mock_has_a_repr_naming_what_it_replaced() -> None:
    with mock.patch("mock.targets.fetch_name"):
        assert repr(targets.fetch_name.asynq) == (
            "<.asynq of the mock replacing mock.targets.fetch_name>"
        )


# -- patchers -------------------------------------------------------------------------------------


def test_exiting_a_patch_that_was_never_entered_says_how_to_use_it() -> None:
    patcher = mock.patch("mock.targets.double")
    raises_exactly(
        RuntimeError,
        "<asynq.mock patcher of mock.targets.double> was exited but never entered; use it as "
        "`with patch(...):` or call start() and stop()",
        lambda: patcher.__exit__(None, None, None),
    )


def test_a_target_without_a_dot_shows_the_dotted_form() -> None:
    raises_exactly(
        TypeError,
        "Need a valid target to patch. You supplied: 'double'; write the dotted path "
        "'package.module.name', or use patch.object(obj, 'name') for an object you hold",
        lambda: mock.patch("double"),
    )


def test_patch_object_given_a_string_suggests_patch() -> None:
    raises_exactly(
        TypeError,
        "'mock.targets' must be the actual object to be patched, not a str; use "
        "patch('mock.targets.double') to patch by dotted path",
        lambda: mock.patch.object("mock.targets", "double"),
    )


def test_patch_multiple_without_attributes_shows_the_call() -> None:
    raises_exactly(
        ValueError,
        "Must supply at least one keyword argument with patch.multiple: "
        "patch.multiple(target, name=new_value, other=DEFAULT)",
        lambda: mock.patch.multiple(targets),
    )


def test_new_with_new_callable_asks_for_one_of_them() -> None:
    raises_exactly(
        ValueError,
        "Cannot use 'new' and 'new_callable' together: new= is the replacement itself, "
        "new_callable= makes it; pass one",
        lambda: mock.patch("mock.targets.double", new=1, new_callable=list),
    )


def test_autospec_with_new_callable_asks_for_one_of_them() -> None:
    raises_exactly(
        ValueError,
        "Cannot use 'autospec' and 'new_callable' together: autospec makes the mock itself; "
        "pass one",
        lambda: mock.patch("mock.targets.double", autospec=True, new_callable=list),
    )


@pytest.mark.parametrize("typo", ["autospect", "auto_spec", "set_spec"])
def test_a_misspelt_spec_argument_is_refused_unless_unsafe(typo: str) -> None:
    raises_exactly(
        RuntimeError,
        f"{typo!r} might be a typo; use unsafe=True if this is intended (did you mean "
        "autospec= or spec_set=?)",
        lambda: mock.patch("mock.targets.double", **{typo: True}),
    )
    with mock.patch("mock.targets.double", unsafe=True, **{typo: True}) as created:
        assert getattr(created, typo) is True


def test_a_spec_that_is_already_a_mock_is_refused() -> None:
    spec = mock.Mock(name="spec")
    raises_exactly(
        mock.InvalidSpecError,
        f"Cannot spec attr 'double' as the spec has already been mocked out. [spec={spec!r}]",
        lambda: mock.patch("mock.targets.double", spec=spec),
    )
    raises_exactly(
        mock.InvalidSpecError,
        f"Cannot spec attr 'double' as the spec_set target has already been mocked out. "
        f"[spec_set={spec!r}]",
        lambda: mock.patch("mock.targets.double", spec_set=spec),
    )


def test_spec_together_with_autospec_is_refused() -> None:
    raises_exactly(
        TypeError,
        "Can't specify spec and autospec: autospec already takes the spec from its argument "
        "(or the original); drop spec=",
        mock.patch("mock.targets.double", spec=True, autospec=True).start,
    )


def test_an_explicit_spec_set_with_spec_or_autospec_is_refused() -> None:
    raises_exactly(
        TypeError,
        "Can't provide explicit spec_set *and* spec or autospec: with spec or autospec, "
        "spec_set may only be True (use the same object) or None",
        mock.patch("mock.targets.double", autospec=True, spec_set=["x"]).start,
    )


def test_spec_of_an_attribute_that_create_adds_is_refused() -> None:
    raises_exactly(
        TypeError,
        "Can't use 'spec' with create=True: the attribute does not exist, so there is nothing "
        "to take the spec from; pass spec=<an object> or drop create=True",
        mock.patch("mock.targets.absent", create=True, spec_set=True).start,
    )


def test_autospec_of_an_attribute_that_create_adds_is_refused() -> None:
    raises_exactly(
        TypeError,
        "Can't use 'autospec' with create=True: the attribute does not exist, so there is "
        "nothing to take the spec from; pass autospec=<an object> or drop create=True",
        mock.patch("mock.targets.absent", create=True, autospec=True).start,
    )


def test_autospec_with_new_is_refused() -> None:
    raises_exactly(
        TypeError,
        "autospec creates the mock for you. Can't specify autospec and new. Drop new=, or drop "
        "autospec= and pass new=create_autospec(...) yourself",
        mock.patch("mock.targets.fetch_name", new=len, autospec=True).start,
    )


def test_mock_options_with_new_are_refused_and_listed() -> None:
    raises_exactly(
        TypeError,
        "Can't pass kwargs to a mock we aren't creating: with new=, configure the object "
        "yourself (got ['return_value', 'side_effect'])",
        mock.patch("mock.targets.double", new=len, side_effect=1, return_value=2).start,
    )


def test_autospec_of_an_attribute_of_a_mock_is_refused() -> None:
    target = mock.Mock(name="target")
    raises_exactly(
        mock.InvalidSpecError,
        f"Cannot autospec attr 'attr' as the patch target has already been mocked out. "
        f"[target={target!r}, attr={target.attr!r}]",
        mock.patch.object(target, "attr", autospec=True).start,
    )


def test_autospec_from_a_mock_is_refused() -> None:
    spec = mock.Mock(name="spec")
    raises_exactly(
        mock.InvalidSpecError,
        f"Cannot autospec attr 'double' from target 'mock.targets' as it has already been "
        f"mocked out. [target={targets!r}, attr={spec!r}]",
        mock.patch.object(targets, "double", autospec=spec).start,
    )


def test_a_missing_attribute_names_the_target() -> None:
    raises_exactly(
        AttributeError,
        f"{targets} does not have the attribute 'absent'",
        mock.patch("mock.targets.absent").start,
    )


def test_a_failed_patch_leaves_nothing_applied_and_nothing_to_stop() -> None:
    patcher = mock.patch.multiple(targets, double="x", absent="y")
    with pytest.raises(AttributeError):
        patcher.start()
    assert targets.double(2) == 4
    assert patcher.stop() is None


def test_an_unknown_name_of_the_module_is_an_attribute_error() -> None:
    raises_exactly(
        AttributeError,
        "module 'asynq.mock' has no attribute 'Patch'",
        lambda: mock.Patch,  # type: ignore[attr-defined]
    )


def test_setting_an_attribute_on_the_asynq_of_a_mock_is_also_a_type_error() -> None:
    with mock.patch("mock.targets.fetch_name"):
        with pytest.raises(TypeError) as raised:
            targets.fetch_name.asynq.cant_set = 1
    assert isinstance(raised.value, mock.MockFormAttributeError)
    assert isinstance(raised.value, AttributeError)

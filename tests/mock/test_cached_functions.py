"""asynq.mock on @mc.cached functions, against a real memcached, and the hint a plain
unittest.mock / pytest-mock mock gets when model code yields what its .asynq() returned."""

from __future__ import annotations

import sys
import types
import unittest.mock
from collections.abc import Iterator
from typing import Any

import pytest

from asynq import asynq, mock
from asynq.memcache import MemcacheClient


@pytest.fixture
def models(memcached: Any) -> Iterator[types.ModuleType]:
    """A models module laid out like the README's: a client and cached functions on it."""
    module = types.ModuleType("cached_models")
    mc = MemcacheClient(memcached.address)

    @mc.cached("name")
    def name_of(uid: int, *, formal: bool = False) -> str:
        return f"user {uid}"

    @asynq()
    def greeting(uid: int) -> Any:
        return f"hello {(yield module.name_of.asynq(uid))}"

    module.mc, module.name_of, module.greeting = mc, name_of, greeting
    sys.modules["cached_models"] = module
    yield module
    del sys.modules["cached_models"]
    mc.close()


def test_autospec_on_a_cached_function_answers_asynq_and_checks_the_signature(
    models: types.ModuleType,
) -> None:
    with mock.patch("cached_models.name_of", autospec=True) as name_of:
        name_of.return_value = "Ann"
        assert models.greeting(1) == "hello Ann"
        assert models.name_of(2) == "Ann"
        assert models.name_of.asynq(3).value() == "Ann"
        name_of.assert_has_calls([mock.call(1), mock.call(2), mock.call(3)])
        with pytest.raises(TypeError):
            models.name_of(1, 2)
        with pytest.raises(TypeError):  # raised where the future is waited for, like any error
            models.name_of.asynq(1, colour="red").value()
    assert models.greeting(1) == "hello user 1"


def test_a_plain_patch_of_a_cached_function_answers_asynq(models: types.ModuleType) -> None:
    with mock.patch("cached_models.name_of", side_effect=lambda uid: f"fake {uid}"):
        assert models.greeting(4) == "hello fake 4"


def test_yielding_what_a_plain_magicmock_returned_says_so_and_points_to_asynq_mock(
    models: types.ModuleType,
) -> None:
    with unittest.mock.patch("cached_models.name_of") as name_of:  # what mocker.patch does
        with pytest.raises(TypeError) as error:
            models.greeting(1)
    message = str(error.value)
    assert message.startswith("@asynq() function ")
    assert message.split(".greeting(1) ", 1)[1] == (
        f"yielded a plain MagicMock ({name_of.asynq.return_value!r}); an asynq task may yield None, a future (a task "
        "from f.asynq(...), a batch item), or an exact list, tuple or dict of those. Hint: a "
        "unittest.mock or pytest-mock mock (e.g. mocker.patch) replaced an asynq function, so "
        "its .asynq(...) returned a plain mock instead of a future. Patch asynq functions with "
        "asynq.mock.patch(...) (or the asynq_mocker fixture), whose mocks answer .asynq(...) "
        "with a future."
    )

"""A patch entered inside an asynq task affects that task only (asynq 1.6's open issue 104).

``yield debug.sync()`` switches the task out until the next round of batch flushes, so a sibling
that also waits one round runs while the patching task is inside its ``with`` block.
"""

from __future__ import annotations

import unittest.mock
from collections.abc import Iterator
from typing import Any

import pytest

import asynq
from asynq import asynq as asynq_decorator
from asynq import debug
from asynq import mock_ as mock

from . import targets

ORIGINAL = targets.fetch_name


@pytest.fixture(autouse=True)
def _restore_settings() -> Iterator[None]:
    saved = dict(targets.SETTINGS)
    yield
    mock.patch.stopall()
    targets.SETTINGS.clear()
    targets.SETTINGS.update(saved)


@asynq_decorator()
def sibling(seen: dict[str, Any]) -> Any:
    """Looks at fetch_name while the patching task is switched out, then reads through it."""
    yield debug.sync()
    seen["sibling sees the original after round 1"] = targets.fetch_name is ORIGINAL
    name = yield targets.fetch_name.asynq(1)
    seen["sibling read"] = name


def run_together(*tasks: Any) -> Any:
    @asynq_decorator()
    def together() -> Any:
        results = yield list(tasks)
        return results

    return together()


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_a_sibling_does_not_see_a_patch_while_the_patching_task_is_switched_out(
    seed: int | None,
) -> None:
    asynq.get_scheduler().shuffle(seed)
    seen: dict[str, Any] = {}

    @asynq_decorator()
    def patching() -> Any:
        with mock.patch("mock.targets.fetch_name", return_value="mocked") as fetch:
            seen["patcher sees its mock on entry"] = targets.fetch_name is fetch
            yield debug.sync()
            seen["patcher sees its mock after round 1"] = targets.fetch_name is fetch
            yield debug.sync()
            seen["patcher reads through its mock"] = yield targets.fetch_name.asynq(2)
        seen["patcher sees the original after the block"] = targets.fetch_name is ORIGINAL
        yield debug.sync()
        seen["the patch stays undone after later switches"] = targets.fetch_name is ORIGINAL

    run_together(patching.asynq(), sibling.asynq(seen))
    assert seen == {
        "patcher sees its mock on entry": True,
        "patcher sees its mock after round 1": True,
        "patcher reads through its mock": "mocked",
        "patcher sees the original after the block": True,
        "the patch stays undone after later switches": True,
        "sibling sees the original after round 1": True,
        "sibling read": "name-1",
    }
    assert targets.fetch_name is ORIGINAL


def test_unittest_mock_patch_inside_a_task_leaks_to_siblings_which_is_the_bug_fixed_here() -> None:
    seen: dict[str, Any] = {}

    @asynq_decorator()
    def patching() -> Any:
        with unittest.mock.patch("mock.targets.fetch_name"):
            yield debug.sync()
            yield debug.sync()

    @asynq_decorator()
    def watcher() -> Any:
        yield debug.sync()
        seen["watcher sees the original"] = targets.fetch_name is ORIGINAL

    run_together(patching.asynq(), watcher.asynq())
    assert seen == {"watcher sees the original": False}


def test_tasks_created_inside_the_block_run_with_the_patch_even_after_a_switch() -> None:
    @asynq_decorator()
    def patching() -> Any:
        with mock.patch("mock.targets.fetch_name", return_value="mocked"):
            child = targets.greeting.asynq(1)
            yield debug.sync()
            greeting = yield child
        return greeting

    seen: dict[str, Any] = {}
    assert run_together(patching.asynq(), sibling.asynq(seen))[0] == "hello mocked"
    assert seen["sibling read"] == "name-1"


def test_a_synchronous_call_inside_the_block_sees_the_patch() -> None:
    @asynq_decorator()
    def patching() -> Any:
        with mock.patch("mock.targets.fetch_name", return_value="mocked"):
            yield debug.sync()
            return targets.greeting(1)

    seen: dict[str, Any] = {}
    assert run_together(patching.asynq(), sibling.asynq(seen))[0] == "hello mocked"
    assert seen["sibling sees the original after round 1"] is True


def test_two_siblings_patching_the_same_function_each_see_only_their_own_mock() -> None:
    @asynq_decorator()
    def patching(tag: str) -> Any:
        with mock.patch("mock.targets.fetch_name", return_value=tag) as fetch:
            yield debug.sync()
            first = yield targets.fetch_name.asynq(tag)
            yield debug.sync()
            second = targets.fetch_name(tag)
            return first, second, fetch.call_args_list

    results = run_together(patching.asynq("a"), patching.asynq("b"))
    assert results == [
        ("a", "a", [mock.call("a"), mock.call("a")]),
        ("b", "b", [mock.call("b"), mock.call("b")]),
    ]
    assert targets.fetch_name is ORIGINAL


def test_nested_patches_in_one_task_restore_in_order_across_switches() -> None:
    seen: dict[str, Any] = {}

    @asynq_decorator()
    def patching() -> Any:
        with mock.patch("mock.targets.fetch_name", return_value="outer") as outer:
            with mock.patch("mock.targets.fetch_name", return_value="inner"):
                yield debug.sync()
                seen["inner"] = yield targets.fetch_name.asynq(1)
            yield debug.sync()
            seen["outer is back"] = targets.fetch_name is outer
            seen["outer"] = yield targets.fetch_name.asynq(1)

    run_together(patching.asynq(), sibling.asynq(seen))
    assert seen == {
        "inner": "inner",
        "outer is back": True,
        "outer": "outer",
        "sibling sees the original after round 1": True,
        "sibling read": "name-1",
    }


def test_a_task_patch_over_a_global_patch_hides_only_itself_from_siblings() -> None:
    seen: dict[str, Any] = {}

    @asynq_decorator()
    def patching() -> Any:
        with mock.patch("mock.targets.fetch_name", return_value="task"):
            yield debug.sync()
            seen["task"] = yield targets.fetch_name.asynq(1)

    @asynq_decorator()
    def watcher() -> Any:
        yield debug.sync()
        seen["watcher"] = yield targets.fetch_name.asynq(1)

    with mock.patch("mock.targets.fetch_name", return_value="global") as global_mock:
        run_together(patching.asynq(), watcher.asynq())
        assert targets.fetch_name is global_mock
    assert seen == {"task": "task", "watcher": "global"}


def test_an_error_inside_the_block_undoes_the_patch_for_everyone() -> None:
    @asynq_decorator()
    def failing() -> Any:
        with mock.patch("mock.targets.fetch_name"):
            yield debug.sync()
            raise RuntimeError("inside the block")

    with pytest.raises(RuntimeError, match="^inside the block$"):
        run_together(failing.asynq())
    assert targets.fetch_name is ORIGINAL


def test_start_inside_a_task_patches_for_everyone_until_stop() -> None:
    seen: dict[str, Any] = {}
    patcher = mock.patch("mock.targets.fetch_name", return_value="started")

    @asynq_decorator()
    def starting() -> Any:
        patcher.start()
        yield debug.sync()
        yield debug.sync()

    run_together(starting.asynq(), sibling.asynq(seen))
    assert seen["sibling read"] == "started"
    patcher.stop()
    assert targets.fetch_name is ORIGINAL


def test_patch_object_and_patch_multiple_are_task_scoped_too() -> None:
    seen: dict[str, Any] = {}

    @asynq_decorator()
    def patching() -> Any:
        with (
            mock.patch.object(targets, "fetch_name", return_value="object"),
            mock.patch.multiple(targets, double=mock.DEFAULT, add="added") as created,
        ):
            yield debug.sync()
            seen["patcher"] = (
                (yield targets.fetch_name.asynq(1)),
                targets.double is created["double"],
                targets.add,
            )

    @asynq_decorator()
    def watcher() -> Any:
        yield debug.sync()
        seen["watcher"] = (targets.fetch_name is ORIGINAL, targets.double(2), targets.add(2))

    run_together(patching.asynq(), watcher.asynq())
    assert seen == {"patcher": ("object", True, "added"), "watcher": (True, 4, 3)}


def test_patch_dict_inside_a_task_keeps_each_side_s_writes_apart() -> None:
    seen: dict[str, Any] = {}

    @asynq_decorator()
    def patching() -> Any:
        with mock.patch.dict(targets.SETTINGS, mode="test"):
            targets.SETTINGS["written inside"] = 1
            yield debug.sync()
            yield debug.sync()
            seen["patcher after switches"] = dict(targets.SETTINGS)

    @asynq_decorator()
    def watcher() -> Any:
        yield debug.sync()
        seen["watcher during the block"] = dict(targets.SETTINGS)
        targets.SETTINGS["written outside"] = 2

    run_together(patching.asynq(), watcher.asynq())
    assert seen == {
        "patcher after switches": {"mode": "test", "retries": 3, "written inside": 1},
        "watcher during the block": {"mode": "prod", "retries": 3},
    }
    assert targets.SETTINGS == {"mode": "prod", "retries": 3, "written outside": 2}


def test_one_decorated_asynq_function_running_twice_at_once_keeps_two_patches_apart() -> None:
    @mock.patch("mock.targets.fetch_name", side_effect=lambda uid: f"mock{uid}")
    @asynq_decorator()
    def decorated(uid: int, fetch: Any) -> Any:
        yield debug.sync()
        value = yield targets.fetch_name.asynq(uid)
        yield debug.sync()
        return value, fetch.call_args_list

    seen: dict[str, Any] = {}
    results = run_together(decorated.asynq(1), decorated.asynq(2), sibling.asynq(seen))
    assert results[:2] == [("mock1", [mock.call(1)]), ("mock2", [mock.call(2)])]
    assert seen["sibling read"] == "name-1"
    assert targets.fetch_name is ORIGINAL


def test_a_decorated_generator_run_by_asynq_is_patched_for_its_task_only() -> None:
    @asynq_decorator()
    @mock.patch("mock.targets.fetch_name", return_value="gen")
    def decorated(fetch: Any) -> Any:
        yield debug.sync()
        value = yield targets.fetch_name.asynq(1)
        return value

    seen: dict[str, Any] = {}
    assert run_together(decorated.asynq(), sibling.asynq(seen))[0] == "gen"
    assert seen["sibling sees the original after round 1"] is True

"""Request roots: the top-level task of a chain of creators, and storage that lives as long."""

from __future__ import annotations

from typing import Any

import pytest

from asynq import asynq, get_active_task, request_roots
from asynq.request_roots import RequestStorage, current_storage, request_root, storage_of


def test_the_request_root_of_a_nested_task_is_the_task_created_outside_any_task() -> None:
    seen: list[Any] = []

    @asynq()
    def inner() -> Any:
        seen.append(request_root(get_active_task()))  # type: ignore[arg-type]
        return None

    @asynq()
    def outer() -> Any:
        seen.append(get_active_task())
        yield inner.asynq()
        return None

    outer()
    assert seen[0] is seen[1]
    assert seen[0].creator is None


def test_every_task_of_one_request_sees_the_same_storage_and_its_values() -> None:
    owner = object()
    made: list[int] = []

    def factory() -> list[str]:
        made.append(1)
        return []

    @asynq()
    def leaf(name: str) -> Any:
        storage = current_storage()
        assert storage is not None
        values = storage.setdefault(owner, factory)
        assert values is not None
        values.append(name)
        return None

    @asynq()
    def request() -> Any:
        yield [leaf.asynq("a"), leaf.asynq("b")]
        storage = current_storage()
        assert storage is not None
        return list(storage.get(owner))

    assert request() == ["a", "b"]
    assert made == [1]


def test_two_top_level_calls_are_two_requests_with_separate_storage() -> None:
    owner = object()

    @asynq()
    def count() -> Any:
        storage = current_storage()
        assert storage is not None
        values: list[int] | None = storage.setdefault(owner, list)
        assert values is not None
        values.append(1)
        return len(values)

    assert count() == 1
    assert count() == 1


def test_the_storage_closes_when_the_root_is_computed_and_runs_its_callbacks_once() -> None:
    kept: list[RequestStorage] = []
    closed: list[str] = []

    @asynq()
    def request() -> Any:
        storage = current_storage()
        assert storage is not None
        storage.on_close(lambda: closed.append("closed"))
        kept.append(storage)
        return None

    request()
    storage = kept[0]
    assert storage.closed and storage.values is None
    assert closed == ["closed"]
    storage.close()
    assert closed == ["closed"]
    # A request that is over stores nothing, and runs a late callback at once.
    assert storage.setdefault(object(), list) is None
    assert storage.get(object()) is None
    storage.on_close(lambda: closed.append("late"))
    assert closed == ["closed", "late"]


def test_the_generation_changes_when_a_request_ends_and_not_when_it_ends_again() -> None:
    # Hot paths remember what they found in a request while the generation is the same one
    # (compared with ``is``): a request that ends must make them look again.
    storage = RequestStorage()
    before = request_roots.generation
    storage.close()
    after = request_roots.generation
    assert after is not before and after != before
    storage.close()
    assert request_roots.generation is after


def test_outside_any_task_there_is_no_current_storage() -> None:
    assert current_storage() is None


def test_storage_of_anything_but_a_task_names_what_it_got() -> None:
    with pytest.raises(TypeError) as info:
        storage_of("task")  # type: ignore[arg-type]
    assert str(info.value) == (
        "storage_of() expects an AsyncTask (e.g. asynq.get_active_task()), got str: 'task'"
    )
    with pytest.raises(TypeError) as info:
        request_root(None)  # type: ignore[arg-type]
    assert str(info.value) == (
        "request_root() expects an AsyncTask (e.g. asynq.get_active_task()), got "
        "NoneType: None"
    )


def test_on_close_with_something_not_callable_names_what_it_got() -> None:
    storage = RequestStorage()
    with pytest.raises(TypeError) as info:
        storage.on_close("flush")  # type: ignore[arg-type]
    assert str(info.value) == (
        "RequestStorage.on_close() expects a function of no arguments, got str: 'flush'"
    )
    assert repr(storage) == "<RequestStorage: 0 owner(s)>"
    storage.close()
    assert repr(storage) == "<RequestStorage: closed>"


# -- explicit requests ---------------------------------------------------------------------


def test_a_request_block_is_the_request_of_top_level_code_and_of_the_tasks_inside() -> None:
    seen: list[Any] = []

    @asynq()
    def inner() -> Any:
        seen.append(current_storage())
        return None

    @asynq()
    def outer() -> Any:
        seen.append(current_storage())
        yield inner.asynq()
        return None

    with RequestStorage() as request:
        seen.append(current_storage())
        outer()
        outer()
    assert seen == [request] * 5
    assert request.closed
    assert current_storage() is None


def test_a_request_block_inside_another_is_a_new_request_until_it_ends() -> None:
    with RequestStorage() as outer:
        with RequestStorage() as inner:
            assert current_storage() is inner
        assert inner.closed and not outer.closed
        assert current_storage() is outer
    assert outer.closed


def test_a_request_block_entered_in_a_task_follows_it_and_the_tasks_it_creates() -> None:
    seen: list[Any] = []

    @asynq()
    def child() -> Any:
        seen.append(current_storage())
        return None

    @asynq()
    def parent() -> Any:
        root = current_storage()
        with RequestStorage() as block:
            yield child.asynq()
            seen.append(current_storage())
        seen.append(current_storage())
        return root, block

    root, block = parent()
    assert seen == [block, block, root]
    assert block.closed and root.closed and root is not block


def test_root_tasks_started_in_a_storage_for_new_roots_belong_to_its_request() -> None:
    from asynq.contexts import contexts_for_new_roots
    from asynq.request_roots import storage_for_new_roots

    @asynq()
    def which() -> Any:
        return current_storage()

    request = RequestStorage()
    with contexts_for_new_roots(request):
        assert storage_for_new_roots() is request
        assert current_storage() is request
        assert which() is request
        assert which() is request
    assert not request.closed  # its owner (a web middleware) ends it
    request.close()
    assert storage_for_new_roots() is None
    with contexts_for_new_roots(request):
        assert storage_for_new_roots() is None  # a request that has ended is no one's


def test_a_top_level_call_can_end_its_own_request_with_its_future() -> None:
    from asynq import ConstFuture, Future

    pending: Future[int] = Future(lambda: None)
    request = RequestStorage()
    request.close_with(pending)
    assert not request.closed
    pending.set_value(1)
    assert request.closed
    done = RequestStorage()
    done.close_with(ConstFuture(1))
    assert done.closed


def test_entering_a_request_twice_or_after_it_ended_names_the_fix() -> None:
    request = RequestStorage()
    with request:
        with pytest.raises(RuntimeError) as info:
            request.__enter__()
    assert str(info.value) == (
        "this RequestStorage was already entered; a request is one `with` block: make a new "
        "RequestStorage() for each request"
    )
    ended = RequestStorage()
    ended.close()
    with pytest.raises(RuntimeError) as info:
        ended.__enter__()
    assert str(info.value) == (
        "this RequestStorage is closed (its request has ended); make a new RequestStorage() "
        "for the next request"
    )


def test_a_request_that_ends_before_a_request_opened_after_it_leaves_that_one_current() -> None:
    first, second = RequestStorage(), RequestStorage()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert first.closed and current_storage() is second
    second.__exit__(None, None, None)
    assert current_storage() is None

"""The loader: rounds, deduplication, splitting, per-key and whole-call errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asynq import async_call, asynq, get_scheduler, is_async_fn
from asynq.loaders import Loader, LoaderContractError, MissingKeyError, loader, request_scope

from .conftest import Recorder

# -- rounds and deduplication ----------------------------------------------------------------------


def test_keys_requested_in_one_round_are_passed_in_one_call_in_request_order(
    recorder: Recorder,
) -> None:
    load = Loader(recorder)

    @asynq()
    def page() -> Any:
        return (yield [load.asynq(3), load.asynq(1), load.asynq(2)])

    assert page() == ["v3", "v1", "v2"]
    assert recorder.calls == [(1, [3, 1, 2])]


def test_a_key_requested_twice_in_a_round_is_passed_once_and_both_requests_get_its_value(
    recorder: Recorder,
) -> None:
    load = Loader(recorder)

    @asynq()
    def one(k: int) -> Any:
        return (yield load.asynq(k))

    @asynq()
    def page() -> Any:
        return (yield [one.asynq(1), one.asynq(2), one.asynq(1), one.asynq(2)])

    assert page() == ["v1", "v2", "v1", "v2"]
    assert recorder.keys == [[1, 2]]


def test_dependent_loads_take_one_round_per_level() -> None:
    parents = Recorder(lambda keys: {k: [k * 10, k * 10 + 1] for k in keys})
    names = Recorder()
    load_children = Loader(parents)
    load_name = Loader(names)

    @asynq()
    def family(k: int) -> Any:
        children = yield load_children.asynq(k)
        return (yield [load_name.asynq(c) for c in children])

    @asynq()
    def page() -> Any:
        return (yield [family.asynq(1), family.asynq(2)])

    assert page() == [["v10", "v11"], ["v20", "v21"]]
    assert parents.calls == [(1, [1, 2])]
    assert names.calls == [(2, [10, 11, 20, 21])]
    assert get_scheduler().stats.rounds == 2


def test_a_synchronous_call_loads_one_key_in_a_round_of_its_own(recorder: Recorder) -> None:
    load = Loader(recorder)
    assert load(7) == "v7"
    assert load(8) == "v8"
    assert recorder.calls == [(1, [7]), (2, [8])]


def test_loaders_pending_in_the_same_round_flush_as_separate_calls_of_that_round() -> None:
    users, posts = Recorder(), Recorder()
    load_user, load_post = Loader(users), Loader(posts)

    @asynq()
    def page() -> Any:
        return (yield [load_user.asynq(1), load_post.asynq(1), load_user.asynq(2)])

    assert page() == ["v1", "v1", "v2"]
    assert users.calls == [(1, [1, 2])]
    assert posts.calls == [(1, [1])]


def test_per_round_statistics_name_the_loader(recorder: Recorder) -> None:
    load = Loader(recorder, name="load_user")

    @asynq()
    def page() -> Any:
        return (yield [load.asynq(1), load.asynq(2)])

    page()
    (record,) = get_scheduler().stats.history
    assert [(b.kind, b.items) for b in record.batches] == [("LoaderBatch[load_user]", 2)]


# -- max_batch_size --------------------------------------------------------------------------------


def test_max_batch_size_splits_a_rounds_keys_into_consecutive_calls_in_the_same_round(
    recorder: Recorder,
) -> None:
    load = Loader(recorder, max_batch_size=3)

    @asynq()
    def page() -> Any:
        return (yield [load.asynq(k) for k in range(7)])

    assert page() == [f"v{k}" for k in range(7)]
    assert recorder.calls == [(1, [0, 1, 2]), (1, [3, 4, 5]), (1, [6])]


def test_max_batch_size_counts_distinct_keys_after_deduplication(recorder: Recorder) -> None:
    load = Loader(recorder, max_batch_size=2)

    @asynq()
    def page() -> Any:
        return (yield [load.asynq(k) for k in [1, 1, 2, 2, 3, 1]])

    assert page() == ["v1", "v1", "v2", "v2", "v3", "v1"]
    assert recorder.keys == [[1, 2], [3]]


def test_a_raising_call_fails_only_the_keys_of_its_own_chunk() -> None:
    def answer(keys: list[int]) -> list[str]:
        if 4 in keys:
            raise ConnectionError("shard down")
        return [f"v{k}" for k in keys]

    recorder = Recorder(answer)
    load = Loader(recorder, max_batch_size=3)
    futures = [load.asynq(k) for k in range(7)]
    assert futures[0].value() == "v0"
    outcomes = [f.error() or f.value() for f in futures]
    assert outcomes[:3] == ["v0", "v1", "v2"]
    assert all(isinstance(e, ConnectionError) for e in outcomes[3:6])
    assert outcomes[6] == "v6"
    assert recorder.keys == [[0, 1, 2], [3, 4, 5], [6]]


# -- cache keys ------------------------------------------------------------------------------------


def test_cache_key_lets_unhashable_keys_be_deduplicated_and_passes_the_first_original_key() -> None:
    recorder = Recorder(lambda keys: [sorted(k.items()) for k in keys])
    load = Loader(recorder, cache_key=lambda k: tuple(sorted(k.items())))

    @asynq()
    def page() -> Any:
        return (yield [load.asynq({"a": 1, "b": 2}), load.asynq({"b": 2, "a": 1})])

    assert page() == [[("a", 1), ("b", 2)], [("a", 1), ("b", 2)]]
    assert recorder.keys == [[{"a": 1, "b": 2}]]


def test_keys_with_the_same_cache_key_share_one_call_and_one_value() -> None:
    recorder = Recorder(lambda keys: [k.upper() for k in keys])
    load = Loader(recorder, cache_key=str.lower)

    @asynq()
    def page() -> Any:
        return (yield [load.asynq("Ann"), load.asynq("ANN"), load.asynq("bob")])

    with request_scope():
        assert page() == ["ANN", "ANN", "BOB"]
        assert load("aNN") == "ANN"  # cached under "ann"
    assert recorder.keys == [["Ann", "bob"]]


# -- results: lists, dicts, per-key errors ---------------------------------------------------------


def test_a_dict_result_is_matched_to_keys_by_key_not_by_order() -> None:
    load = Loader(lambda keys: {k: k * 2 for k in reversed(keys)})
    assert [f.value() for f in [load.asynq(1), load.asynq(2), load.asynq(3)]] == [2, 4, 6]


def test_a_tuple_result_is_matched_by_position_like_a_list() -> None:
    load = Loader(lambda keys: tuple(k * 2 for k in keys))
    assert [f.value() for f in [load.asynq(1), load.asynq(2)]] == [2, 4]


def test_none_in_a_list_is_a_value_not_an_error() -> None:
    load = Loader(lambda keys: [None for _ in keys])
    assert load(1) is None


def test_an_exception_instance_in_the_results_fails_only_its_key() -> None:
    load = Loader(lambda keys: [ValueError(f"bad {k}") if k == 2 else k for k in keys])
    futures = [load.asynq(1), load.asynq(2), load.asynq(3)]
    assert futures[0].value() == 1
    assert futures[2].value() == 3
    with pytest.raises(ValueError, match="bad 2"):
        futures[1].value()


def test_a_key_missing_from_a_dict_fails_only_that_key_with_missing_key_error() -> None:
    load = Loader(lambda keys: {k: k for k in keys if k != 2})
    futures = [load.asynq(1), load.asynq(2), load.asynq(3)]
    assert futures[0].value() == 1
    assert futures[2].value() == 3
    with pytest.raises(MissingKeyError, match="no entry for key 2"):
        futures[1].value()


def test_a_failed_key_reaches_only_the_tasks_that_depend_on_it() -> None:
    load = Loader(lambda keys: {k: k for k in keys if k != 2})

    @asynq()
    def safe(k: int) -> Any:
        try:
            return (yield load.asynq(k))
        except MissingKeyError:
            return "missing"

    @asynq()
    def page() -> Any:
        return (yield [safe.asynq(1), safe.asynq(2), safe.asynq(3)])

    assert page() == [1, "missing", 3]


def test_a_raising_batch_function_fails_every_key_of_the_call_with_its_error() -> None:
    error = ConnectionError("database is down")

    def fail(keys: list[int]) -> list[int]:
        raise error

    load = Loader(fail)
    futures = [load.asynq(1), load.asynq(2)]
    assert [f.error() for f in futures] == [error, error]


def test_a_contract_error_fails_every_key_of_the_call() -> None:
    load = Loader(lambda keys: keys[:-1])
    futures = [load.asynq(1), load.asynq(2)]
    errors = [f.error() for f in futures]
    assert all(isinstance(e, LoaderContractError) for e in errors)
    assert errors[0] is errors[1]


def test_the_scheduler_is_clean_after_a_failed_call(recorder: Recorder) -> None:
    def fail(keys: list[int]) -> list[int]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Loader(fail)(1)
    assert Loader(recorder)(2) == "v2"


# -- interop ---------------------------------------------------------------------------------------


def test_a_loader_counts_as_an_asynq_function_for_introspection_and_async_call(
    recorder: Recorder,
) -> None:
    load = Loader(recorder)
    assert is_async_fn(load)
    assert async_call.asynq(load, 5).value() == "v5"
    assert recorder.keys == [[5]]


def test_a_loader_can_be_awaited_from_asyncio_code(recorder: Recorder) -> None:
    load = Loader(recorder)
    assert asyncio.run(load.asyncio(4)) == "v4"


def test_the_loader_decorator_keeps_the_functions_name_and_doc() -> None:
    @loader(max_batch_size=10)
    def load_user(ids: list[int]) -> list[int]:
        """Users by id."""
        return ids

    assert isinstance(load_user, Loader)
    assert load_user.__name__ == "load_user"
    assert load_user.__doc__ == "Users by id."
    assert load_user.max_batch_size == 10
    assert load_user(3) == 3


def test_a_synchronous_call_inside_a_task_is_counted_as_impure(recorder: Recorder) -> None:
    load = Loader(recorder)

    @asynq()
    def impure() -> Any:
        yield None  # a generator, so that it runs as a task
        return load(1)

    assert impure() == "v1"
    assert get_scheduler().stats.impure_calls == 1

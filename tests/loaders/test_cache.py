"""The loader's cache: what is remembered, for how long, and prime / clear / request scopes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from asynq import asynq, get_scheduler
from asynq.loaders import Loader, MissingKeyError, request_scope

from .conftest import Recorder


def test_a_loaded_key_is_served_from_the_cache_in_later_rounds_without_a_call(
    recorder: Recorder,
) -> None:
    load = Loader(recorder)

    @asynq()
    def twice() -> Any:
        first = yield load.asynq(1)
        second = yield [load.asynq(1), load.asynq(2)]
        return first, second

    assert twice() == ("v1", ["v1", "v2"])
    assert recorder.calls == [(1, [1]), (2, [2])]


def test_each_top_level_call_is_a_request_of_its_own(recorder: Recorder) -> None:
    load = Loader(recorder)

    @asynq()
    def name(k: int) -> Any:
        return (yield load.asynq(k))

    assert load(1) == "v1"
    assert load(1) == "v1"
    assert name(1) == "v1"
    assert name(1) == "v1"
    assert recorder.keys == [[1], [1], [1], [1]]


def test_tasks_created_by_a_task_share_its_request(recorder: Recorder) -> None:
    load = Loader(recorder)

    @asynq()
    def child(k: int) -> Any:
        return (yield load.asynq(k))

    @asynq()
    def parent() -> Any:
        first = yield load.asynq(1)
        again = yield [child.asynq(1), child.asynq(2)]  # a later round: key 1 is cached
        return first, again

    assert parent() == ("v1", ["v1", "v2"])
    assert recorder.keys == [[1], [2]]


def test_a_synchronous_call_inside_a_task_belongs_to_the_tasks_request(
    recorder: Recorder,
) -> None:
    load = Loader(recorder)

    @asynq()
    def impure() -> Any:
        first = yield load.asynq(1)
        return first, load(1)  # served from the request's cache

    assert impure() == ("v1", "v1")
    assert recorder.keys == [[1]]


def test_a_task_that_outlives_its_top_level_task_still_loads(recorder: Recorder) -> None:
    load = Loader(recorder)

    @asynq()
    def later() -> Any:
        first = yield load.asynq(1)
        second = yield load.asynq(1)
        return first, second

    @asynq()
    def make() -> Any:
        yield None
        return later.asynq()  # created here, run after this request is done

    assert make().value() == ("v1", "v1")
    assert recorder.keys == [[1], [1]]  # its request is over: nothing is cached


def test_clear_makes_the_next_request_of_the_key_call_again(recorder: Recorder) -> None:
    load = Loader(recorder)
    with request_scope():
        load(1)
        load(2)
        load.clear(1)
        load(1)
        load(2)
    assert recorder.keys == [[1], [2], [1]]


def test_clear_all_forgets_every_key_of_the_loader(recorder: Recorder) -> None:
    load = Loader(recorder)
    other = Loader(Recorder())
    with request_scope():
        load(1)
        load(2)
        other(1)
        load.clear_all()
        load(1)
        load(2)
        other(1)
    assert recorder.keys == [[1], [2], [1], [2]]


def test_clear_inside_a_task_affects_its_request(recorder: Recorder) -> None:
    load = Loader(recorder)

    @asynq()
    def reload() -> Any:
        yield load.asynq(1)
        load.clear(1)
        return (yield load.asynq(1))

    assert reload() == "v1"
    assert recorder.keys == [[1], [1]]


def test_clear_outside_any_request_does_nothing(recorder: Recorder) -> None:
    load = Loader(recorder)
    load.clear(99)
    load.clear_all()
    assert load(99) == "v99"


def test_prime_serves_a_key_without_a_call(recorder: Recorder) -> None:
    load = Loader(recorder)

    @asynq()
    def page() -> Any:
        load.prime(1, "primed")
        return (yield [load.asynq(1), load.asynq(2)])

    assert page() == ["primed", "v2"]
    assert recorder.keys == [[2]]


def test_prime_does_not_replace_a_cached_value_but_clear_then_prime_does(
    recorder: Recorder,
) -> None:
    load = Loader(recorder)
    with request_scope():
        load(1)
        load.prime(1, "new")
        assert load(1) == "v1"
        load.clear(1)
        load.prime(1, "new")
        assert load(1) == "new"
    assert recorder.keys == [[1]]


def test_prime_with_an_exception_instance_primes_an_error(recorder: Recorder) -> None:
    load = Loader(recorder)
    with request_scope():
        load.prime(1, PermissionError("hidden"))
        with pytest.raises(PermissionError, match="hidden"):
            load(1)
    assert recorder.calls == []


def test_prime_is_ignored_for_a_key_already_requested_in_the_current_round(
    recorder: Recorder,
) -> None:
    load = Loader(recorder)
    with request_scope():
        pending = load.asynq(1)
        load.prime(1, "primed")
        assert pending.value() == "v1"
        assert load(1) == "v1"
    assert recorder.keys == [[1]]


def test_prime_uses_the_cache_key_function(recorder: Recorder) -> None:
    load = Loader(recorder, cache_key=str.lower)
    with request_scope():
        load.prime("Ann", "primed")
        assert load("ANN") == "primed"
    assert recorder.calls == []


def test_per_key_errors_are_cached_until_cleared() -> None:
    recorder = Recorder(lambda keys: {k: k for k in keys if k != 2})
    load = Loader(recorder)
    with request_scope():
        for _ in range(2):
            with pytest.raises(MissingKeyError):
                load(2)
        assert recorder.keys == [[2]]
        load.clear(2)
        with pytest.raises(MissingKeyError):
            load(2)
    assert recorder.keys == [[2], [2]]


def test_an_exception_instance_result_is_cached_like_a_value() -> None:
    recorder = Recorder(lambda keys: [LookupError(k) for k in keys])
    load = Loader(recorder)
    with request_scope():
        first = load.asynq(1).error()
        second = load.asynq(1).error()
    assert isinstance(first, LookupError)
    assert second is first
    assert recorder.keys == [[1]]


def test_a_failed_call_caches_nothing_so_the_next_request_calls_again() -> None:
    outcomes = [ConnectionError("down"), None]

    def answer(keys: list[int]) -> list[str]:
        error = outcomes.pop(0)
        if error is not None:
            raise error
        return [f"v{k}" for k in keys]

    recorder = Recorder(answer)
    load = Loader(recorder)
    with request_scope():
        with pytest.raises(ConnectionError):
            load(1)
        assert load(1) == "v1"
        assert load(1) == "v1"
    assert recorder.keys == [[1], [1]]


def test_a_contract_error_caches_nothing_either() -> None:
    results: list[Any] = [[], ["v1"]]
    recorder = Recorder(lambda keys: results.pop(0))
    load = Loader(recorder)
    with request_scope():
        with pytest.raises(Exception, match="returned a list of 0 value"):
            load(1)
        assert load(1) == "v1"
        assert load(1) == "v1"
    assert recorder.keys == [[1], [1]]


def test_without_a_cache_keys_are_deduplicated_within_a_round_but_loaded_again_in_the_next(
    recorder: Recorder,
) -> None:
    load = Loader(recorder, cache=False)

    @asynq()
    def twice() -> Any:
        first = yield [load.asynq(1), load.asynq(1)]
        second = yield load.asynq(1)
        return first, second

    assert twice() == (["v1", "v1"], "v1")
    assert recorder.keys == [[1], [1]]


def test_clear_and_clear_all_on_a_loader_without_a_cache_do_nothing(recorder: Recorder) -> None:
    load = Loader(recorder, cache=False)
    with request_scope():
        load.clear(1)
        load.clear_all()
        assert load(1) == "v1"


# -- request scopes --------------------------------------------------------------------------------


def test_a_request_scope_makes_several_top_level_calls_one_request(recorder: Recorder) -> None:
    load = Loader(recorder)

    @asynq()
    def name(k: int) -> Any:
        return (yield load.asynq(k))

    with request_scope():
        assert load(1) == "v1"
        assert name(1) == "v1"
        assert name(2) == "v2"
        assert load(2) == "v2"
    assert recorder.keys == [[1], [2]]


def test_a_request_scopes_cache_is_dropped_at_exit(recorder: Recorder) -> None:
    load = Loader(recorder)
    with request_scope():
        load(1)
        load.prime(2, "primed")
        assert load(2) == "primed"
    with request_scope():
        assert load(1) == "v1"
        assert load(2) == "v2"
    assert recorder.keys == [[1], [1], [2]]


def test_every_loader_gets_its_own_cache_in_a_request_scope() -> None:
    users, posts = Recorder(), Recorder()
    load_user, load_post = Loader(users), Loader(posts)
    with request_scope():
        load_user(1)
        load_post(1)
        load_user(1)
        load_post(1)
    assert users.keys == [[1]]
    assert posts.keys == [[1]]


def test_nested_request_scopes_share_the_outermost_cache(recorder: Recorder) -> None:
    load = Loader(recorder)
    with request_scope():
        load(1)
        with request_scope():
            load(1)
        load(1)
    assert recorder.keys == [[1]]


def test_a_request_scope_on_one_thread_does_not_affect_another(recorder: Recorder) -> None:
    load = Loader(recorder)
    inside = threading.Event()
    leave = threading.Event()

    def scoped() -> None:
        with request_scope():
            load(1)
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=scoped)
    thread.start()
    inside.wait(10)
    try:
        assert load(1) == "v1"  # this thread is outside any request: a call of its own
    finally:
        leave.set()
        thread.join()
    assert recorder.keys == [[1], [1]]


# -- threads ---------------------------------------------------------------------------------------


def test_each_thread_batches_its_own_keys_in_its_own_rounds() -> None:
    recorder = Recorder()
    load = Loader(recorder)
    both_pending = threading.Barrier(2, timeout=10)

    @asynq()
    def page(keys: list[int]) -> Any:
        futures = [load.asynq(k) for k in keys]
        both_pending.wait()  # both threads hold pending keys before either flushes
        return (yield futures)

    results: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: results.update(b=page([3, 4])))
    thread.start()
    results["a"] = page([1, 2])
    thread.join()
    assert results == {"a": ["v1", "v2"], "b": ["v3", "v4"]}
    assert sorted(recorder.keys) == [[1, 2], [3, 4]]


def test_two_requests_that_load_a_key_in_the_same_round_both_cache_it(
    recorder: Recorder,
) -> None:
    load = Loader(recorder)

    @asynq()
    def twice() -> Any:
        first = yield load.asynq(1)
        second = yield load.asynq(1)
        return first, second

    # Two top-level tasks driven together (as the asyncio bridge does): two requests.
    scheduler = get_scheduler()
    one, two = twice.asynq(), twice.asynq()
    scheduler.schedule(one)
    scheduler.schedule(two)
    while not (one.is_computed() and two.is_computed()):
        scheduler.run_ready()
        scheduler.flush_batches(scheduler.take_batches())
    assert one.value() == two.value() == ("v1", "v1")
    assert recorder.keys == [[1]]

"""Misuse of loaders and concurrent batches: every error says what it got, what it expected and
the fix. The messages are pinned here word for word."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from asynq import asynq
from asynq.loaders import (
    ConcurrentCallTimeout,
    Loader,
    LoaderContractError,
    MissingKeyError,
    concurrent_batch,
    loader,
    request_scope,
)


def ids(keys: list[Any]) -> list[Any]:
    return keys


def error_of(call: Any) -> BaseException:
    with pytest.raises(BaseException) as info:
        call()
    return info.value


def returning(result: Any) -> Loader[Any, Any]:
    return Loader(lambda keys: result, name="load_user")


# -- decorating ------------------------------------------------------------------------------------


def test_loader_without_parentheses_says_to_add_them() -> None:
    error = error_of(lambda: loader(ids))  # type: ignore[arg-type]
    assert isinstance(error, TypeError)
    assert str(error) == (
        "loader was applied directly to ids; it takes options, so write `@loader()` with "
        "parentheses"
    )


def test_concurrent_batch_without_parentheses_says_to_add_them() -> None:
    error = error_of(lambda: concurrent_batch(ids))  # type: ignore[arg-type]
    assert isinstance(error, TypeError)
    assert str(error) == (
        "concurrent_batch was applied directly to ids; it takes options, so write "
        "`@concurrent_batch()` with parentheses"
    )


def test_an_async_def_batch_function_is_refused() -> None:
    async def load_users(keys: list[int]) -> list[int]:
        return keys

    error = error_of(lambda: loader()(load_users))
    assert isinstance(error, TypeError)
    assert str(error) == (
        "@loader() cannot use `async def test_an_async_def_batch_function_is_refused.<locals>."
        "load_users`: it is called synchronously during a flush. Write a plain `def` (use "
        "@concurrent_batch() to run blocking per-key calls in parallel)"
    )


def test_an_asynq_function_as_batch_function_is_refused() -> None:
    @asynq()
    def load_users(keys: list[int]) -> list[int]:
        return keys

    error = error_of(lambda: loader()(load_users))
    assert isinstance(error, TypeError)
    assert str(error) == (
        "@loader() got the asynq function 'load_users'; the function that does the request must "
        "be a plain function (it runs during a flush, where nothing can be yielded)"
    )


def test_a_non_callable_batch_function_is_refused() -> None:
    error = error_of(lambda: loader()(42))  # type: ignore[arg-type]
    assert isinstance(error, TypeError)
    assert str(error) == "@loader() expects a function, got int: 42"
    error = error_of(lambda: concurrent_batch()("fetch"))  # type: ignore[arg-type]
    assert str(error) == "@concurrent_batch() expects a function, got str: 'fetch'"


@pytest.mark.parametrize("size", [0, -1, True, 2.5, "10"])
def test_max_batch_size_must_be_a_positive_int(size: Any) -> None:
    error = error_of(lambda: Loader(ids, max_batch_size=size))
    assert isinstance(error, ValueError)
    assert str(error) == (
        f"max_batch_size must be a positive int or None, got {size!r}; use None to pass every "
        "key of a round in one call"
    )


def test_cache_key_must_be_callable() -> None:
    error = error_of(lambda: Loader(ids, cache_key="id"))  # type: ignore[arg-type]
    assert isinstance(error, TypeError)
    assert str(error) == (
        "cache_key must be a function of one key returning a hashable value, got str: 'id'"
    )


@pytest.mark.parametrize("workers", [0, -2, True, 1.5])
def test_max_workers_must_be_a_positive_int(workers: Any) -> None:
    error = error_of(lambda: concurrent_batch(max_workers=workers)(ids))
    assert isinstance(error, ValueError)
    assert str(error) == f"max_workers must be a positive int, got {workers!r}"


@pytest.mark.parametrize("timeout", [0, -1, False, "1"])
def test_timeout_must_be_a_positive_number_or_none(timeout: Any) -> None:
    error = error_of(lambda: concurrent_batch(timeout=timeout)(ids))
    assert isinstance(error, ValueError)
    assert str(error) == (
        "timeout must be a positive number of seconds or None (wait as long as the call "
        f"takes), got {timeout!r}"
    )


# -- keys ------------------------------------------------------------------------------------------


def test_an_unhashable_key_without_cache_key_says_to_pass_cache_key() -> None:
    error = error_of(lambda: Loader(ids, name="load_user").asynq({"a": 1}))
    assert isinstance(error, TypeError)
    assert str(error) == (
        "load_user.asynq() got the unhashable key {'a': 1} (dict); keys are deduplicated and "
        "cached by hash. Pass cache_key= to map each key to a hashable one, e.g. "
        "@loader(cache_key=lambda k: tuple(sorted(k.items())))"
    )


def test_a_cache_key_function_returning_an_unhashable_value_is_named() -> None:
    load = Loader(ids, name="load_user", cache_key=lambda k: [k])
    error = error_of(lambda: load.asynq(1))
    assert isinstance(error, TypeError)
    assert str(error) == (
        "load_user's cache_key function returned the unhashable list [1] for key 1; it must "
        "return a hashable value (a str, int or tuple)"
    )


# -- batch function results (contract errors) ------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "what", "fix"),
    [
        (None, "None", "the function returned nothing; end it with `return values`"),
        (
            (x for x in [1]),
            "a generator",
            "the batch function must return the values, not yield them; collect them with "
            "`return [...]` (a batch function is a plain function, not an @asynq() generator)",
        ),
        (
            {1, 2},
            "a set ({1, 2})",
            "a set has no order, so values cannot be matched to keys; return a list or a dict",
        ),
        ("ab", "a str ('ab')", "wrap a single value in a list, one per key"),
        (
            5,
            "an int (5)",
            "convert the result, e.g. `return list(rows)` or `return dict(rows)`",
        ),
    ],
)
def test_a_result_that_is_neither_a_list_nor_a_dict_says_what_came_back(
    result: Any, what: str, fix: str
) -> None:
    error = error_of(lambda: returning(result)(1))
    assert isinstance(error, LoaderContractError)
    assert str(error) == (
        f"load_user's batch function returned {what} for 1 key(s) [1]; expected a list of 1 "
        f"value(s) in key order, or a dict mapping each key to its value. Fix: {fix}"
    )


def test_a_list_shorter_than_the_keys_shows_both() -> None:
    load = returning([1])
    futures = [load.asynq(1), load.asynq(2)]
    error = futures[0].error()
    assert isinstance(error, LoaderContractError)
    assert str(error) == (
        "load_user's batch function returned a list of 1 value(s) for 2 key(s); expected exactly "
        "one value per key, in the order of the keys. Keys: [1, 2]; returned: [1]. Fix: put a "
        "value at each key's position (None, or an Exception instance for a key that failed), or "
        "return a dict keyed by the keys passed in"
    )


def test_a_tuple_longer_than_the_keys_shows_both() -> None:
    error = error_of(lambda: returning((1, 2, 3))(1))
    assert isinstance(error, LoaderContractError)
    assert str(error).startswith(
        "load_user's batch function returned a tuple of 3 value(s) for 1 key(s); expected "
        "exactly one value per key, in the order of the keys. Keys: [1]; returned: (1, 2, 3)."
    )


def test_a_dict_keyed_by_strings_for_int_keys_points_at_the_type_mismatch() -> None:
    load = Loader(lambda keys: {str(k): k for k in keys}, name="load_user")
    error = error_of(lambda: load(1))
    assert isinstance(error, MissingKeyError)
    assert str(error) == (
        "load_user: the batch function's dict has no entry for key 1; it has '1' (str), but the "
        "key passed was 1 (int): return the keys as they were passed"
    )


def test_a_dict_result_for_unhashable_keys_says_to_return_a_list() -> None:
    load = Loader(lambda keys: {}, name="load_user", cache_key=tuple)
    error = error_of(lambda: load(["a"]))
    assert isinstance(error, LoaderContractError)
    assert str(error) == (
        "load_user's batch function returned a dict, but the keys it was passed are unhashable "
        "(e.g. ['a'], a list), so they cannot be looked up in it; return a list of values in key "
        "order instead"
    )


# -- cache and scopes ------------------------------------------------------------------------------


def test_prime_on_a_loader_without_a_cache_is_refused() -> None:
    load = Loader(ids, cache=False, name="load_user")
    error = error_of(lambda: load.prime(1, "x"))
    assert isinstance(error, RuntimeError)
    assert str(error) == (
        "load_user.prime(1) on a loader created with cache=False has nowhere to put the value; "
        "create it with cache=True"
    )


def test_prime_outside_any_request_is_refused() -> None:
    load = Loader(ids, name="load_user")
    error = error_of(lambda: load.prime(1, "x"))
    assert isinstance(error, RuntimeError)
    assert str(error) == (
        "load_user.prime(1) was called outside any request, where nothing is cached: a loader's "
        "cache lives for one top-level call or one `with request_scope():` block. Prime inside "
        "the @asynq() function that loads the key, or open request_scope() around both"
    )


def test_a_request_scope_inside_a_running_task_is_refused() -> None:
    @asynq()
    def handler() -> Any:
        with request_scope():
            yield None

    error = error_of(handler)
    assert isinstance(error, RuntimeError)
    assert str(error) == (
        "request_scope() was entered inside the running task <AsyncTask "
        "test_a_request_scope_inside_a_running_task_is_refused.<locals>.handler() running>; a "
        "request scope is thread state and tasks interleave, so it must wrap the top-level "
        "synchronous call (e.g. in the request handler), not code inside an @asynq() function"
    )


# -- timeouts --------------------------------------------------------------------------------------


def test_a_timed_out_call_and_a_call_that_could_not_start_say_why_and_what_to_do() -> None:
    release = threading.Event()

    def fetch_acl(key: str, *, bucket: str) -> str:
        release.wait(10)
        return key

    fetch = concurrent_batch(max_workers=1, timeout=0.05)(fetch_acl)
    try:
        futures = [fetch.asynq("a", bucket="b"), fetch.asynq("c", bucket="b")]
        timed_out, queued = futures[0].error(), futures[1].error()
    finally:
        release.set()
        fetch.shutdown()
    assert isinstance(timed_out, ConcurrentCallTimeout)
    assert str(timed_out) == (
        "fetch_acl('a', bucket='b') did not return within timeout=0.05 s; its worker thread keeps "
        "running it until it returns (Python cannot stop a thread). Give the call its own timeout "
        "(e.g. requests' timeout=, botocore's read_timeout) or raise timeout="
    )
    assert isinstance(queued, ConcurrentCallTimeout)
    assert str(queued) == (
        "fetch_acl('c', bucket='b') could not start: all 1 worker(s) are held by calls that "
        "exceeded timeout=0.05 s and have not returned. Give the call its own timeout so that "
        "workers come back, or raise max_workers="
    )

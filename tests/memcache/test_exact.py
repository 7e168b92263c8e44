"""Exact keys and values: equal-looking arguments keep their own keys, cold equals warm."""

from __future__ import annotations

from typing import Any

import pytest

from asynq.memcache import MemcacheClient


@pytest.mark.parametrize(
    ("first", "second"),
    [(True, 1), (1, True), (0, False), (False, 0.0), (0, 0.0), (0.0, -0.0), (1, 1.0)],
)
def test_arguments_that_compare_equal_but_differ_keep_their_own_keys_and_values(
    mc: MemcacheClient, first: Any, second: Any
) -> None:
    @mc.cached("echo")
    def echo(x: Any) -> str:
        return repr(x)

    assert echo(first) == repr(first)
    assert echo(second) == repr(second)
    assert echo.key(first) != echo.key(second)
    # What memcached holds under each key is that argument's value, for other processes too.
    assert mc.get(echo.key(first)) == repr(first)
    assert mc.get(echo.key(second)) == repr(second)


def test_nested_arguments_that_compare_equal_keep_their_own_keys(mc: MemcacheClient) -> None:
    @mc.cached("pair")
    def pair(x: Any, y: Any) -> str:
        return repr((x, y))

    assert pair((1,), 2) == "((1,), 2)"
    assert pair((True,), 2) == "((True,), 2)"
    assert pair.key((1,), 2) != pair.key((True,), 2)


def test_a_tuple_argument_and_keyword_arguments_of_a_catch_all_function_have_distinct_keys(
    mc: MemcacheClient,
) -> None:
    @mc.cached("catch_all")
    def catch_all(*args: Any, **kwargs: Any) -> str:
        return f"{args!r} {kwargs!r}"

    assert catch_all(("a", 1)) == "(('a', 1),) {}"
    assert catch_all(a=1) == "() {'a': 1}"
    assert catch_all.key(("a", 1)) != catch_all.key(a=1)
    assert catch_all.key(a=1, b=2) == catch_all.key(b=2, a=1)


def test_a_cold_call_and_a_warm_call_return_equal_values_of_the_same_types(
    mc: MemcacheClient,
) -> None:
    @mc.cached("shapes")
    def shapes(x: int) -> Any:
        return {"pair": (x, x + 1), "nested": [(1, 2)]}

    cold = shapes(1)
    mc.flush_writes()
    with MemcacheClient(mc.servers[0]) as other:
        warm = other.cached("shapes")(shapes.fn)(1)
    assert cold == warm == {"pair": [1, 2], "nested": [[1, 2]]}
    assert type(cold["pair"]) is type(warm["pair"]) is list


def test_a_value_set_in_a_request_reads_back_as_memcached_would_return_it(
    mc: MemcacheClient,
) -> None:
    with mc.request():
        mc.set("t", (1, 2))
        assert mc.get("t") == [1, 2]
        assert type(mc.get("t")) is list

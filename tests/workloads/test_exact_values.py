"""Exact keys and values: a cached function returns what its body returns for those arguments.

What the docs promise (docs/memcache.md):
- Keys: "any argument values become valid memcached keys ... and distinct arguments give distinct
  keys"; ints, strings, ``None``, ``True``, ``False``, floats, bytes, tuples and lists are
  supported argument types; "arguments are bound to the signature".
- Values, with the default ``JsonSerializer``: ``bytes`` stored as they are, ``str`` as UTF-8,
  ``int`` in decimal, everything else as JSON. So ``None``, ``bool``, ``int``, finite ``float``,
  ``str``, ``bytes`` (top level), ``list`` and ``dict`` with ``str`` keys, nested, round-trip.
  "Tuples come back as lists" (for ``mc.get``).

So for those values a call returns exactly (type and value, recursively) what the body returns,
whether it is cold or warm, synchronous, yielded, awaited from asyncio or primed, in one request or across requests, through
this client or through a second client on the same server (another process's view).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynq import asynq
from asynq.memcache import MemcacheClient, is_valid_key
from workloads.helpers import (
    CONFUSABLE_CALLS,
    TRICKY_ARGUMENTS,
    TRICKY_VALUES,
    assert_none_wrong,
    cacheable_values,
    calls,
    describe_call,
    fresh_namespace,
    same,
    shown,
)

WORKLOAD = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MODES = ["sync", "asynq", "scope", "other_client", "other_client_asynq", "asyncio", "primed"]


@pytest.fixture
def two_clients(memcached: Any) -> Iterator[tuple[MemcacheClient, MemcacheClient]]:
    """Two clients on one server: what two processes of one application see."""
    first = MemcacheClient(memcached.address)
    second = MemcacheClient(memcached.address)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def check(expected: Any, actual: Any, what: str) -> None:
    assert same(expected, actual), f"{what}: expected {shown(expected)}, got {shown(actual)}"


def run_calls(
    mode: str,
    mine: Any,
    theirs: Any,
    client: MemcacheClient,
    batch: list[tuple[tuple[Any, ...], dict[str, Any]]],
) -> list[Any]:
    """Run one step of a workload: the calls of ``batch``, made in the way ``mode`` names."""
    if mode == "sync":
        return [mine(*args, **kwargs) for args, kwargs in batch]
    if mode == "other_client":
        return [theirs(*args, **kwargs) for args, kwargs in batch]
    if mode == "scope":
        with client.request():
            first = [mine(*args, **kwargs) for args, kwargs in batch]
            again = run_calls("asynq", mine, theirs, client, batch)
            for one, other in zip(first, again, strict=True):
                check(one, other, "the same call twice in one request")
            return first
    if mode == "primed":
        with client.request():
            for args, kwargs in batch:
                mine.prime(*args, **kwargs)
            return [mine(*args, **kwargs) for args, kwargs in batch]
    if mode == "asyncio":

        async def gathered() -> list[Any]:
            return list(
                await asyncio.gather(*[mine.asyncio(*args, **kwargs) for args, kwargs in batch])
            )

        return asyncio.run(gathered())
    function = theirs if mode == "other_client_asynq" else mine

    @asynq()
    def together() -> Any:
        return (yield [function.asynq(*args, **kwargs) for args, kwargs in batch])

    return list(together())


@st.composite
def workloads(draw: st.DrawFn) -> list[tuple[str, list[Any]]]:
    """Steps (a mode and the calls it makes) over a small pool of calls, so that equal-looking
    arguments meet in one request and most reads after the first are warm."""
    pool = draw(st.lists(calls, min_size=2, max_size=6))
    pool += draw(st.sampled_from(CONFUSABLE_CALLS))
    step = st.tuples(
        st.sampled_from(MODES), st.lists(st.sampled_from(pool), min_size=1, max_size=5)
    )
    return draw(st.lists(step, min_size=1, max_size=10))


@WORKLOAD
@given(steps=workloads())
def test_every_call_returns_the_body_value_of_its_own_arguments(
    two_clients: tuple[MemcacheClient, MemcacheClient], steps: list[Any]
) -> None:
    client, other = two_clients
    namespace = fresh_namespace("args")

    @client.cached(namespace)
    def mine(*args: Any, **kwargs: Any) -> str:
        return describe_call(*args, **kwargs)

    @other.cached(namespace)
    def theirs(*args: Any, **kwargs: Any) -> str:
        return describe_call(*args, **kwargs)

    for mode, batch in steps:
        results = run_calls(mode, mine, theirs, client, batch)
        for (args, kwargs), result in zip(batch, results, strict=True):
            check(describe_call(*args, **kwargs), result, f"{mode} call with {args!r} {kwargs!r}")


@WORKLOAD
@given(batch=st.lists(calls, min_size=1, max_size=12))
def test_keys_are_valid_and_calls_with_different_results_never_share_a_key(
    two_clients: tuple[MemcacheClient, MemcacheClient], batch: list[Any]
) -> None:
    client, _ = two_clients

    @client.cached("keys")
    def mine(*args: Any, **kwargs: Any) -> str:
        return describe_call(*args, **kwargs)

    seen: dict[str, str] = {}
    for args, kwargs in batch:
        key = mine.key(*args, **kwargs)
        assert is_valid_key(key), f"invalid key {key!r} for {args!r} {kwargs!r}"
        assert len(key.encode()) <= 250 and key.isascii(), key
        assert not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in key), key
        described = describe_call(*args, **kwargs)
        assert seen.setdefault(key, described) == described, (
            f"{key!r} is the key of both {seen[key]} and {described}"
        )


def test_confusable_arguments_get_distinct_valid_keys_in_any_order(
    mc_client: MemcacheClient,
) -> None:
    every_call = [((x,), {}) for x in TRICKY_ARGUMENTS] + [
        call for group in CONFUSABLE_CALLS for call in group
    ]
    wrong = []
    for order in (every_call, every_call[::-1]):

        @mc_client.cached(fresh_namespace("keys"))
        def mine(*args: Any, **kwargs: Any) -> str:
            return describe_call(*args, **kwargs)

        seen: dict[str, str] = {}
        for args, kwargs in order:
            key = mine.key(*args, **kwargs)
            described = describe_call(*args, **kwargs)
            if not is_valid_key(key):
                wrong.append(f"invalid key {key!r} for {described}")
            if seen.setdefault(key, described) != described:
                wrong.append(f"{key!r} is the key of both {seen[key]} and {described}")
    assert_none_wrong(wrong, 2 * len(every_call))


def test_every_pair_of_tricky_arguments_gets_its_own_value_cold_and_warm(
    two_clients: tuple[MemcacheClient, MemcacheClient],
) -> None:
    client, other = two_clients
    namespace = fresh_namespace("pairs")

    @client.cached(namespace)
    def mine(x: Any) -> str:
        return describe_call(x)

    @other.cached(namespace)
    def theirs(x: Any) -> str:
        return describe_call(x)

    wrong = []
    for first in TRICKY_ARGUMENTS:
        for second in TRICKY_ARGUMENTS:
            for function, scope_client in ((mine, client), (theirs, other)):
                with scope_client.request():
                    got = function(first), function(second)
                if got != (describe_call(first), describe_call(second)):
                    wrong.append(f"{first!r} then {second!r} in one request gave {got}")
    assert_none_wrong(wrong, 2 * len(TRICKY_ARGUMENTS) ** 2)


def test_equal_but_different_arguments_in_one_round_each_get_their_own_value(
    mc_client: MemcacheClient,
) -> None:
    @mc_client.cached(fresh_namespace("round"))
    def mine(x: Any) -> str:
        return describe_call(x)

    @asynq()
    def all_at_once() -> Any:
        return (yield [mine.asynq(x) for x in TRICKY_ARGUMENTS])

    for attempt in ("cold", "warm"):
        assert all_at_once() == [describe_call(x) for x in TRICKY_ARGUMENTS], attempt
        with mc_client.request():
            assert all_at_once() == [describe_call(x) for x in TRICKY_ARGUMENTS], attempt
            assert [mine(x) for x in TRICKY_ARGUMENTS] == [
                describe_call(x) for x in TRICKY_ARGUMENTS
            ], attempt


def test_a_tuple_argument_is_not_confused_with_keyword_arguments(
    mc_client: MemcacheClient,
) -> None:
    @mc_client.cached(fresh_namespace("kwargs"))
    def mine(*args: Any, **kwargs: Any) -> str:
        return describe_call(*args, **kwargs)

    variants: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((("a", 1),), {}),
        ((), {"a": 1}),
        ((["a", 1],), {}),
        (("a", 1), {}),
        ((("a", 1), ()), {}),
        (((), ("a", 1)), {}),
        ((), {"a": 1, "b": 2}),
        ((), {"a": (1,)}),
        ((), {"a": [1]}),
    ]
    for _ in ("cold", "warm"):
        for args, kwargs in variants:
            assert mine(*args, **kwargs) == describe_call(*args, **kwargs), (args, kwargs)


def test_positional_and_keyword_spellings_of_one_call_return_its_value(
    two_clients: tuple[MemcacheClient, MemcacheClient],
) -> None:
    client, other = two_clients
    namespace = fresh_namespace("bound")

    def body(a: Any, b: Any = 2, *rest: Any, c: Any = None, **extra: Any) -> str:
        return describe_call(a, b, *rest, c=c, **extra)

    mine = client.cached(namespace)(body)
    theirs = other.cached(namespace)(body)
    spellings: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((1,), {}),
        ((1, 2), {}),
        ((1,), {"b": 2}),
        ((), {"a": 1, "b": 2}),
        ((True,), {}),
        ((1, True), {}),
        ((1, 2, 3), {}),
        ((1, 2, (3,)), {}),
        ((1,), {"c": 3}),
        ((1,), {"d": 3}),
        ((1, 2), {"c": None}),
        ((1.0,), {"b": 2.0}),
    ]
    for function in (mine, theirs, mine):
        for args, kwargs in spellings:
            assert function(*args, **kwargs) == body(*args, **kwargs), (args, kwargs)


# ---- values ------------------------------------------------------------------------------------


def value_workload(client: MemcacheClient, other: MemcacheClient, values: list[Any]) -> list[str]:
    """Read each value cold, warm, yielded, in a scope and from the second client; return what
    differed from the body's value."""
    namespace = fresh_namespace("values")

    def body(i: int) -> Any:
        return values[i]

    mine = client.cached(namespace)(body)
    theirs = other.cached(namespace)(body)

    @asynq()
    def yielded(function: Any) -> Any:
        return (yield [function.asynq(i) for i in range(len(values))])

    wrong = []
    for label, read in [
        ("cold sync", lambda: [mine(i) for i in range(len(values))]),
        ("warm sync", lambda: [mine(i) for i in range(len(values))]),
        ("warm yielded", lambda: yielded(mine)),
        ("other client sync", lambda: [theirs(i) for i in range(len(values))]),
        ("other client yielded", lambda: yielded(theirs)),
    ]:
        for i, result in enumerate(read()):
            if not same(values[i], result):
                wrong.append(f"{label}: {shown(values[i])} came back as {shown(result)}")
    # Cold through the second client and through yield, on a fresh namespace each.
    namespace = fresh_namespace("values")
    mine = client.cached(namespace)(body)
    for i, result in enumerate(yielded(mine)):
        if not same(values[i], result):
            wrong.append(f"cold yielded: {shown(values[i])} came back as {shown(result)}")
    with client.request():
        for i, result in enumerate(yielded(mine)):
            if not same(values[i], result):
                wrong.append(f"in a scope: {shown(values[i])} came back as {shown(result)}")
    return wrong


def test_every_documented_value_type_round_trips_exactly(
    two_clients: tuple[MemcacheClient, MemcacheClient],
) -> None:
    assert_none_wrong(value_workload(*two_clients, TRICKY_VALUES), 7 * len(TRICKY_VALUES))


@WORKLOAD
@given(values=st.lists(cacheable_values, min_size=1, max_size=8))
def test_generated_json_like_values_round_trip_exactly(
    two_clients: tuple[MemcacheClient, MemcacheClient], values: list[Any]
) -> None:
    assert_none_wrong(value_workload(*two_clients, values), 7 * len(values))


@pytest.mark.parametrize("value", [(1, 2), ("a", (1,)), [(1, 2)], {"t": (1,)}])
def test_a_cached_function_returns_the_same_type_cold_and_warm(
    two_clients: tuple[MemcacheClient, MemcacheClient], value: Any
) -> None:
    """Tuples are not in the documented round-trip set (they come back as lists), but a caller
    may rely on one function returning one type whether the cache was cold or warm."""
    client, other = two_clients
    namespace = fresh_namespace("tuples")

    def body() -> Any:
        return value

    mine = client.cached(namespace)(body)
    theirs = other.cached(namespace)(body)
    cold = mine()
    warm = mine()
    elsewhere = theirs()
    assert same(cold, warm), f"cold {shown(cold)}, warm {shown(warm)}"
    assert same(cold, elsewhere), f"cold {shown(cold)}, other client {shown(elsewhere)}"

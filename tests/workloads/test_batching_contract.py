"""The batching contract of docs/memcache.md, counted with the public counters.

- Reads made in one round of tasks share one multi-get ("a round over N servers costs one round
  trip"), counted by ``round_trips`` / ``mc.on_round_trip`` / ``mc.stats.round_trips``.
- "Within one request, a key is fetched at most once: duplicates in a batch are merged, and later
  reads are served from the request-local cache (misses too)."
- A top-level call outside a scope is its own request: it forgets everything when it returns.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from asynq import asynq
from asynq.memcache import MemcacheClient, RoundTrip
from workloads.helpers import CONFUSABLE_CALLS, describe_call, fresh_namespace

# Plainly distinct calls (the confusable ones have a test of their own below).
DISTINCT = (
    [((i,), {}) for i in range(40)]
    + [((f"s{i}",), {}) for i in range(10)]
    + [((i, "x"), {}) for i in range(5)]
    + [((), {"a": i}) for i in range(5)]
)


def counted_function(client: MemcacheClient, ran: Counter[str]) -> Any:
    @client.cached(fresh_namespace("batch"))
    def mine(*args: Any, **kwargs: Any) -> str:
        described = describe_call(*args, **kwargs)
        ran[described] += 1
        return described

    return mine


def test_n_distinct_reads_in_one_round_are_one_multi_get_cold_and_warm(
    mc_client: MemcacheClient, round_trips: Any
) -> None:
    ran: Counter[str] = Counter()
    mine = counted_function(mc_client, ran)
    expected_keys = [mine.key(*args, **kwargs) for args, kwargs in DISTINCT]
    assert len(set(expected_keys)) == len(DISTINCT), "distinct calls must have distinct keys"

    @asynq()
    def together() -> Any:
        return (yield [mine.asynq(*args, **kwargs) for args, kwargs in DISTINCT])

    for attempt in ("cold", "warm"):
        with round_trips(mc_client) as rt:
            assert together() == [describe_call(*a, **k) for a, k in DISTINCT], attempt
        assert rt.count == 1, f"{attempt}: {rt.count} round trips"
        assert sorted(rt.keys[0]) == sorted(expected_keys), attempt
    assert set(ran.values()) == {1}, "each body ran once, when cold"


def test_duplicate_keys_in_one_round_are_fetched_once_and_computed_once(
    mc_client: MemcacheClient, round_trips: Any
) -> None:
    ran: Counter[str] = Counter()
    mine = counted_function(mc_client, ran)

    @asynq()
    def duplicates() -> Any:
        one = [mine.asynq(7) for _ in range(5)]
        spelled = [mine.asynq(x=7), mine.asynq(8), mine.asynq(8)]
        return (yield one + spelled)

    with round_trips(mc_client, exactly=1) as rt:
        results = duplicates()
    assert results == [describe_call(7)] * 5 + [describe_call(x=7)] + [describe_call(8)] * 2
    keys = rt.keys[0]
    assert Counter(keys) == Counter({mine.key(7): 1, mine.key(x=7): 1, mine.key(8): 1})
    assert ran == Counter({describe_call(7): 1, describe_call(x=7): 1, describe_call(8): 1})


def test_within_one_request_a_key_is_fetched_at_most_once_hits_and_misses(
    mc_client: MemcacheClient, round_trips: Any
) -> None:
    ran: Counter[str] = Counter()
    mine = counted_function(mc_client, ran)
    mine(1)  # warm 1; 2 and the raw key stay misses

    @asynq()
    def some(xs: list[int]) -> Any:
        raw = yield mc_client.get.asynq("absent-raw-key")
        return raw, (yield [mine.asynq(x) for x in xs])

    ran.clear()
    with round_trips(mc_client) as rt:
        with mc_client.request():
            assert mine(1) == describe_call(1)
            assert mine(2) == describe_call(2)
            assert some([1, 2, 1]) == (None, [describe_call(1), describe_call(2), describe_call(1)])
            assert mine(2) == describe_call(2)
            assert mc_client.get("absent-raw-key") is None
            assert some([2, 1]) == (None, [describe_call(2), describe_call(1)])
    every_key = [key for round_keys in rt.keys for key in round_keys]
    duplicated = [key for key, n in Counter(every_key).items() if n > 1]
    assert duplicated == [], f"fetched more than once in one request: {duplicated} ({rt.keys})"
    assert ran == Counter({describe_call(2): 1}), "only the miss is computed, once"


def test_equal_looking_arguments_in_one_round_are_distinct_keys_of_one_multi_get(
    mc_client: MemcacheClient, round_trips: Any
) -> None:
    for group in CONFUSABLE_CALLS:
        ran: Counter[str] = Counter()
        mine = counted_function(mc_client, ran)

        @asynq()
        def together(calls: Any = group, function: Any = mine) -> Any:
            return (yield [function.asynq(*args, **kwargs) for args, kwargs in calls])

        with round_trips(mc_client) as rt:
            assert together() == [describe_call(*a, **k) for a, k in group]
        assert rt.count == 1
        assert len(rt.keys[0]) == len(group), f"{group}: asked {rt.keys[0]}"
        assert set(ran.values()) == {1} and len(ran) == len(group)


def test_top_level_calls_outside_a_scope_each_read_again(
    mc_client: MemcacheClient, round_trips: Any
) -> None:
    ran: Counter[str] = Counter()
    mine = counted_function(mc_client, ran)
    with round_trips(mc_client) as rt:
        assert mine(1) == describe_call(1)
        assert mine(1) == describe_call(1)
    assert rt.keys == [[mine.key(1)], [mine.key(1)]]
    assert ran == Counter({describe_call(1): 1})


def test_dependent_reads_cost_one_round_per_level_and_stats_agree(
    mc_client: MemcacheClient,
) -> None:
    ran: Counter[str] = Counter()
    first = counted_function(mc_client, ran)
    second = counted_function(mc_client, ran)

    @asynq()
    def two_levels(xs: list[int]) -> Any:
        firsts = yield [first.asynq(x) for x in xs]
        return (yield [second.asynq(value) for value in firsts])

    trips: list[RoundTrip] = []
    mc_client.on_round_trip.subscribe(trips.append)
    try:
        mc_client.stats.reset()
        expected = [describe_call(describe_call(x)) for x in range(20)]
        assert two_levels(list(range(20))) == expected
        assert [len(trip.keys) for trip in trips] == [20, 20]
        assert mc_client.stats.round_trips == 2
        trips.clear()
        assert two_levels(list(range(20))) == expected
        assert [(len(trip.keys), trip.hits) for trip in trips] == [(20, 20), (20, 20)]
    finally:
        mc_client.on_round_trip.unsubscribe(trips.append)

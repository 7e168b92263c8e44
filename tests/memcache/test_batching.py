"""Reads made while tasks run become one multi-get per round, with exactly the keys needed."""

from __future__ import annotations

from typing import Any

import pytest

from asynq import asynq, get_scheduler
from asynq.memcache import MemcacheClient

from .blog import build, expected_page


def test_the_blog_page_costs_two_round_trips_cold_and_warm(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    blog = build(mc)
    page = blog.fns["page_asynq"]
    upvoter_keys = [f"answers.upvoters:{aid}" for aid in blog.answers]
    name_keys = [
        f"users.name:{uid}"
        for uid in dict.fromkeys(u for a in blog.answers for u in blog.upvoters[a])
    ]

    assert page(blog.answers) == expected_page(blog)
    assert trips == [upvoter_keys, name_keys]

    trips.clear()
    blog.db_reads.clear()
    assert page(blog.answers) == expected_page(blog)
    assert trips == [upvoter_keys, name_keys]
    assert blog.db_reads == []


def test_a_key_read_by_many_tasks_in_one_round_is_requested_once(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set("shared", 1)
    trips.clear()

    @asynq()
    def reader(i: int) -> Any:
        return (yield mc.get.asynq("shared"))

    @asynq()
    def many() -> Any:
        return (yield [reader.asynq(i) for i in range(10)] + [mc.get.asynq("other")])

    assert many() == [1] * 10 + [None]
    assert [sorted(keys) for keys in trips] == [["other", "shared"]]


def test_get_many_inside_a_task_joins_the_round_of_its_siblings(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set_many({"a": 1, "b": 2, "c": 3})

    @asynq()
    def both() -> Any:
        return (yield mc.get_many.asynq(["a", "b"]), mc.get.asynq("c"), mc.get.asynq("a"))

    assert both() == ({"a": 1, "b": 2}, 3, 1)
    assert trips == [["a", "b", "c"]]


def test_synchronous_reads_outside_tasks_are_one_round_trip_each(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set_many({"a": "x", "b": "y"})
    assert mc.get("a") == "x"
    assert mc.get_many(["a", "b", "zzz"]) == {"a": "x", "b": "y"}
    assert mc.get("nope", default=7) == 7
    assert trips == [["a"], ["a", "b", "zzz"], ["nope"]]


def test_dependent_reads_take_one_round_per_level_and_never_ask_for_a_key_twice(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set_many({"a": "b", "b": "c", "c": "end"})

    @asynq()
    def follow(key: str, depth: int) -> Any:
        value = yield mc.get.asynq(key)
        if depth == 1:
            return value
        return (yield follow.asynq(value, depth - 1))

    @asynq()
    def two_chains() -> Any:
        return (yield follow.asynq("a", 3), follow.asynq("b", 2))

    assert two_chains() == ("end", "end")
    # Level 1 asks for a and b; level 2 needs b (already read) and c; level 3 needs c again.
    assert trips == [["a", "b"], ["c"]]


def test_the_round_trip_record_counts_hits_and_servers(mc: MemcacheClient) -> None:
    records: list[Any] = []
    mc.on_round_trip.subscribe(records.append)
    mc.set("here", 1)
    mc.get_many(["here", "absent"])
    (record,) = records
    assert (record.keys, record.hits, record.servers) == (["here", "absent"], 1, 1)
    assert record.seconds >= 0


def test_stats_count_round_trips_keys_hits_misses_and_sets(mc: MemcacheClient) -> None:
    mc.set_many({"a": 1, "b": 2})
    mc.get_many(["a", "b", "c"])
    mc.get("a")
    stats = mc.stats.as_dict()
    assert {k: stats[k] for k in ("round_trips", "keys_requested", "hits", "misses", "sets")} == {
        "round_trips": 2,
        "keys_requested": 4,
        "hits": 3,
        "misses": 1,
        "sets": 2,
    }
    assert stats["errors"] == 0 and stats["flush_seconds"] > 0
    mc.stats.reset()
    assert mc.stats.as_dict()["round_trips"] == 0


def test_two_clients_read_in_the_same_round(memcached: Any) -> None:
    first = MemcacheClient(memcached.address, key_prefix="one:")
    second = MemcacheClient(memcached.address, key_prefix="two:")
    first.set("k", "first")
    second.set("k", "second")
    rounds: list[int] = []

    @asynq()
    def both() -> Any:
        return (yield first.get.asynq("k"), second.get.asynq("k"))

    before = get_scheduler().stats.rounds
    assert both() == ("first", "second")
    rounds.append(get_scheduler().stats.rounds - before)
    assert rounds == [1]
    assert (first.stats.round_trips, second.stats.round_trips) == (1, 1)


def test_writes_made_with_asynq_go_out_together_and_reads_see_them(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    @asynq()
    def write_then_read() -> Any:
        ok = yield mc.set.asynq("a", 1), mc.set_many.asynq({"b": 2, "c": 3}), mc.delete.asynq("z")
        return ok, (yield mc.get_many.asynq(["a", "b", "c"]))

    assert write_then_read() == ((True, [], False), {"a": 1, "b": 2, "c": 3})
    assert MemcacheClient(mc.servers[0]).get_many(["a", "b", "c"]) == {"a": 1, "b": 2, "c": 3}


def test_the_synchronous_write_api_reports_memcacheds_answers(mc: MemcacheClient) -> None:
    assert mc.set("k", [1, 2]) is True
    assert mc.set_many({"x": 1, "y": "two"}) == []
    assert mc.delete("k") is True
    assert mc.delete("k") is False
    assert mc.get_many(["k", "x", "y"]) == {"x": 1, "y": "two"}


def test_the_key_prefix_is_on_the_wire_and_hidden_from_results(memcached: Any) -> None:
    mc = MemcacheClient(memcached.address, key_prefix="app:")
    keys: list[list[str]] = []
    mc.on_round_trip.subscribe(lambda trip: keys.append(trip.keys))
    mc.set("a", 1)
    assert mc.get_many(["a"]) == {"a": 1}
    assert keys == [["app:a"]]
    assert MemcacheClient(memcached.address).get("app:a") == 1


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_round_trips_do_not_depend_on_the_scheduling_order(
    mc: MemcacheClient, trips: list[list[str]], seed: int
) -> None:
    blog = build(mc, answers=8, upvoters=4, users=12)
    page = blog.fns["page_asynq"]
    assert page(blog.answers) == expected_page(blog)
    in_order = [sorted(keys) for keys in trips]
    trips.clear()
    get_scheduler().shuffle(seed)
    assert page(blog.answers) == expected_page(blog)
    assert [sorted(keys) for keys in trips] == in_order


def test_writes_and_reads_of_one_round_share_a_connection_without_mixing_replies(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set("before", 0)

    @mc.cached("computed")
    def computed(x: int) -> int:
        return x

    @asynq()
    def writer() -> Any:
        yield mc.get.asynq("before")  # round 1
        return (yield mc.set.asynq("written", 1), mc.delete.asynq("before"))  # round 2

    @asynq()
    def reader() -> Any:
        yield computed.asynq(1), mc.get.asynq("x")  # round 1: a miss, written back in round 2
        return (yield mc.get_many.asynq(["before", "y"]))  # round 2

    @asynq()
    def both() -> Any:
        return (yield writer.asynq(), reader.asynq())

    # The delete was asked for before the read (in task order), and goes out first.
    assert both() == ((True, True), {})
    assert mc.get_many(["written", "before", "computed:1"]) == {"written": 1, "computed:1": 1}


def test_using_the_client_between_a_rounds_sends_and_reads_keeps_replies_apart(
    mc: MemcacheClient,
) -> None:
    mc.set_many({"a": 1, "b": 2})
    side: list[Any] = []

    def meddle(batch: Any) -> None:
        if not side:
            side.append(mc.set("side", 3))
            side.append(mc.get("side"))
            side.append(mc.delete("b"))

    scheduler = get_scheduler()
    scheduler.on_before_batch_flush.subscribe(meddle)
    try:

        @asynq()
        def read() -> Any:
            return (yield mc.get.asynq("a"), mc.get.asynq("b"))

        assert read() == (1, 2)  # sent before the meddling, so it still saw b
    finally:
        scheduler.on_before_batch_flush.unsubscribe(meddle)
    assert side == [True, 3, True]
    assert mc.stats.errors == 0
    assert mc.get_many(["a", "b", "side"]) == {"a": 1, "side": 3}

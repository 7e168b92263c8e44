"""Per-run statistics: the counters must agree with what the batches really flushed."""

from __future__ import annotations

import re
from typing import Any

from asynq import asynq, get_scheduler, stats
from asynq.stats import NullStats, RoundRecord, SchedulerStats, distinct_keys

from .helpers import Blog, LoggedBatch, LoggedItem, MultiKeyItem, PlainItem, Store


def without_times(text: str) -> str:
    return re.sub(r"\d+\.\d\d ms", "T ms", text)


def test_statistics_count_the_rounds_batches_and_items_the_batches_flushed() -> None:
    blog = Blog()
    with stats.measure() as measured:
        blog.page([1, 2, 3, 4])
    assert blog.log == [
        ("users", ["viewer"]),
        ("posts", [1, 2, 3, 4]),
        ("users", [("user", 1), ("user", 0), ("user", 1), ("user", 0)]),
    ]
    assert (measured.rounds, measured.batches, measured.items) == (2, 3, 9)
    assert [r.index for r in measured.history] == [1, 2]
    assert [[(b.kind, b.items) for b in r.batches] for r in measured.history] == [
        [("UsersBatch", 1), ("LoggedBatch", 4)],
        [("UsersBatch", 4)],
    ]


def test_statistics_count_each_started_task_once() -> None:
    blog = Blog()
    with stats.measure() as measured:
        blog.page([1, 2, 3])
    assert measured.tasks == 4  # page and three author_name


def test_a_synchronous_call_inside_a_task_counts_as_one_impure_call() -> None:
    blog = Blog()

    @asynq()
    def impure() -> Any:
        first = blog.author_name(1)  # synchronous: runs its own rounds
        second = yield blog.author_name.asynq(2)
        return first, second

    with stats.measure() as measured:
        impure()
    assert measured.impure_calls == 1
    # the synchronous call paid two rounds alone, then the yielded call two more
    assert measured.rounds == 4


def test_measure_reports_only_what_ran_inside_its_block() -> None:
    blog = Blog()
    blog.page([1])
    totals_before = stats.get_stats().copy()
    with stats.measure() as measured:
        blog.page([2, 3])
    assert (measured.rounds, measured.batches, measured.items, measured.tasks) == (2, 3, 5, 3)
    assert [r.index for r in measured.history] == [
        totals_before.rounds + 1,
        totals_before.rounds + 2,
    ]
    assert stats.get_stats().rounds == totals_before.rounds + 2


def test_summary_has_a_totals_line_then_one_line_per_round() -> None:
    users = flushed_batch(lambda b: [LoggedItem(b, "viewer")])
    posts = flushed_batch(lambda b: [LoggedItem(b, 1), LoggedItem(b, 2)])
    authors = flushed_batch(lambda b: [LoggedItem(b, "u1"), LoggedItem(b, "u1")])
    counters = SchedulerStats()
    counters.tasks = 3
    counters.before_round()
    counters.after_batch_flush(users, users.items, 0.001)
    counters.after_batch_flush(posts, posts.items, 0.002)
    counters.before_round()
    counters.after_batch_flush(authors, authors.items, 0.0005)
    assert counters.summary().splitlines() == [
        "3 tasks, 2 rounds, 3 batch flushes, 5 items (4 distinct keys), 3.50 ms flushing, "
        "0 synchronous calls inside tasks",
        "  round 1: 2 batches, 3 items (3 keys), 3.00 ms: LoggedBatch: 1 item (1 key), 1.00 ms; "
        "LoggedBatch: 2 items (2 keys), 2.00 ms",
        "  round 2: 1 batch, 2 items (1 key), 0.50 ms: LoggedBatch: 2 items (1 key), 0.50 ms",
    ]


def test_a_run_summary_names_each_round_batch_kind() -> None:
    blog = Blog()
    with stats.measure() as measured:
        blog.page([1, 2])
    lines = without_times(measured.summary()).splitlines()
    assert lines[0].startswith("3 tasks, 2 rounds, 3 batch flushes, 5 items")
    assert [line.split(":")[0] for line in lines[1:]] == ["  round 1", "  round 2"]
    assert [re.findall(r"(\w+Batch): (\d+) items?", line) for line in lines[1:]] == [
        [("UsersBatch", "1"), ("LoggedBatch", "2")],
        [("UsersBatch", "2")],
    ]


def test_summary_shows_at_most_max_rounds_and_says_how_many_it_left_out() -> None:
    store = Store("kv", [])

    @asynq()
    def walk(n: int) -> Any:
        for i in range(n):
            yield store.get(i)

    with stats.measure() as measured:
        walk(5)
    lines = measured.summary(max_rounds=2).splitlines()
    assert len(lines) == 4
    assert lines[-1] == "  ... 3 more round(s)"


def test_the_dict_form_has_every_counter_and_one_entry_per_round() -> None:
    blog = Blog()
    with stats.measure() as measured:
        blog.page([1])
    data = measured.as_dict()
    assert sorted(data) == sorted(
        [
            "rounds",
            "batches",
            "items",
            "keys",
            "flush_seconds",
            "tasks",
            "impure_calls",
            "round_history",
        ]
    )
    assert (data["rounds"], data["batches"], data["items"], data["tasks"]) == (2, 3, 3, 2)
    assert [[(b["kind"], b["items"]) for b in r["batches"]] for r in data["round_history"]] == [
        [("UsersBatch", 1), ("LoggedBatch", 1)],
        [("UsersBatch", 1)],
    ]
    assert all(b["seconds"] >= 0 for r in data["round_history"] for b in r["batches"])
    assert "round_history" not in measured.as_dict(rounds=False)


def flushed_batch(make_items: Any) -> LoggedBatch:
    store = Store("kv", [])
    batch = store.active
    make_items(batch)
    batch.flush()
    return batch


def test_a_flush_record_counts_the_distinct_keys_of_the_batch_items() -> None:
    batch = flushed_batch(lambda b: [LoggedItem(b, k) for k in ["a", "b", "a", "c", "a"]])
    counters = SchedulerStats()
    counters.before_round()
    counters.after_batch_flush(batch, batch.items, 0.5)
    (record,) = counters.history
    assert record.batches[0].as_dict() == {
        "kind": "LoggedBatch",
        "items": 5,
        "keys": 3,
        "seconds": 0.5,
    }
    assert (counters.batches, counters.items, counters.keys) == (1, 5, 3)
    assert (
        record.summary()
        == "round 1: 1 batch, 5 items (3 keys), 500.00 ms: LoggedBatch: 5 items (3 keys), 500.00 ms"
    )


def test_a_flush_is_counted_with_the_items_the_batch_held_before_flushing() -> None:
    store = Store("kv", [])
    batch = store.active
    for key in ["a", "b", "b"]:
        LoggedItem(batch, key)
    before = batch.items
    batch.flush()
    batch.items = []  # as a batch that hands its items elsewhere while flushing
    counters = SchedulerStats()
    counters.before_round()
    counters.after_batch_flush(batch, before, 0.0)
    assert (counters.items, counters.keys) == (3, 2)


def test_items_with_several_keys_count_every_key_once() -> None:
    batch = flushed_batch(
        lambda b: [MultiKeyItem(b, ["a", "b"]), MultiKeyItem(b, ["b", "c"]), MultiKeyItem(b, [])]
    )
    assert distinct_keys(batch.items) == 3


def test_items_without_keys_report_no_key_count() -> None:
    batch = flushed_batch(lambda b: [PlainItem(b), PlainItem(b)])
    counters = SchedulerStats()
    counters.before_round()
    counters.after_batch_flush(batch, batch.items, 0.0)
    (record,) = counters.history
    assert (record.batches[0].items, record.batches[0].keys, counters.keys) == (2, None, 0)
    assert record.keys is None


def test_unhashable_keys_are_counted_by_their_repr() -> None:
    batch = flushed_batch(
        lambda b: [LoggedItem(b, ["x"]), LoggedItem(b, ["x"]), LoggedItem(b, ["y"])]
    )
    assert distinct_keys(batch.items) == 2


def test_an_empty_batch_has_zero_distinct_keys() -> None:
    assert distinct_keys([]) == 0


def test_disable_stops_round_records_and_enable_brings_them_back() -> None:
    blog = Blog()
    stats.disable()
    try:
        assert isinstance(get_scheduler().stats, NullStats)
        blog.page([1])
        assert (stats.get_stats().rounds, stats.get_stats().batches) == (0, 0)
        assert stats.get_stats().tasks == 2
        assert stats.get_stats().summary() == (
            "statistics are off (asynq.stats.enable() turns them on)"
        )
    finally:
        stats.enable()
    assert type(get_scheduler().stats) is SchedulerStats
    blog.page([2])
    assert (stats.get_stats().rounds, stats.get_stats().batches) == (2, 3)


def test_history_keeps_only_the_most_recent_rounds() -> None:
    counters = SchedulerStats()
    for _ in range(stats.ROUND_HISTORY + 5):
        counters.before_round()
    assert counters.rounds == stats.ROUND_HISTORY + 5
    assert len(counters.history) == stats.ROUND_HISTORY
    assert counters.history[0].index == 6


def test_reset_zeroes_the_thread_statistics() -> None:
    Blog().page([1])
    stats.reset()
    assert stats.get_stats().as_dict() == SchedulerStats().as_dict()


def test_a_round_record_sums_its_batches() -> None:
    record = RoundRecord(3)
    assert (record.items, record.seconds, record.keys) == (0, 0, None)
    assert record.summary() == "round 3: 0 batches, 0 items, 0.00 ms"

"""Batching: when batches flush, what a round is, and what a failing flush affects."""

from __future__ import annotations

from typing import Any

import pytest

import asynq
from asynq import (
    BatchBase,
    BatchCancelledError,
    BatchingError,
    BatchItemBase,
    DebugBatchItem,
    get_scheduler,
)
from asynq.batching import sync
from core.helpers import KeyKind, RecordingBatch


@pytest.fixture
def kv() -> KeyKind:
    return KeyKind("kv")


def test_reads_from_independent_tasks_share_one_flush(kv: KeyKind) -> None:
    @asynq.asynq()
    def name_of(uid: int) -> Any:
        return (yield kv.get(f"name:{uid}"))

    @asynq.asynq()
    def names(uids: list[int]) -> Any:
        return (yield [name_of.asynq(uid) for uid in uids])

    assert names([1, 2, 3]) == [("value", "name:1"), ("value", "name:2"), ("value", "name:3")]
    assert kv.flushes == [["name:1", "name:2", "name:3"]]


def test_rounds_follow_the_depth_of_the_graph_not_the_number_of_keys(kv: KeyKind) -> None:
    @asynq.asynq()
    def upvoters(aid: int) -> Any:
        yield kv.get(f"upvoters:{aid}")
        return [aid * 10 + i for i in range(3)]

    @asynq.asynq()
    def upvoter_names(aid: int) -> Any:
        uids = yield upvoters.asynq(aid)
        return (yield [kv.get(f"name:{uid}") for uid in uids])

    @asynq.asynq()
    def page(aids: list[int]) -> Any:
        return (yield [upvoter_names.asynq(aid) for aid in aids])

    page([1, 2])
    assert kv.flushes == [
        ["upvoters:1", "upvoters:2"],
        ["name:10", "name:11", "name:12", "name:20", "name:21", "name:22"],
    ]
    assert get_scheduler().stats.rounds == 2


def test_a_batch_flushes_only_when_no_task_can_make_progress(kv: KeyKind) -> None:
    events: list[Any] = kv.log

    @asynq.asynq()
    def reader() -> Any:
        events.append("reader asks")
        value = yield kv.get("k")
        events.append("reader resumes")
        return value

    @asynq.asynq()
    def busy(steps: int) -> Any:
        for i in range(steps):
            events.append(f"busy step {i}")
            yield None
        return steps

    @asynq.asynq()
    def both() -> Any:
        return (yield [reader.asynq(), busy.asynq(3)])

    assert both() == [("value", "k"), 3]
    assert events == [
        "reader asks",
        "busy step 0",
        "busy step 1",
        "busy step 2",
        ("start", "kv", ["k"]),
        ("flush", "kv", ["k"]),
        "reader resumes",
    ]


def test_batches_of_different_kinds_pending_together_flush_in_the_same_round() -> None:
    log: list[Any] = []
    users = KeyKind("users", log)
    answers = KeyKind("answers", log)

    @asynq.asynq()
    def both() -> Any:
        return (yield users.get("u1"), answers.get("a1"))

    assert both() == (("value", "u1"), ("value", "a1"))
    assert log == [
        ("start", "users", ["u1"]),
        ("start", "answers", ["a1"]),
        ("flush", "users", ["u1"]),
        ("flush", "answers", ["a1"]),
    ]
    stats = get_scheduler().stats
    assert (stats.rounds, stats.batches, stats.items) == (1, 2, 2)


def test_a_raising_flush_fails_its_unset_items_and_nothing_else() -> None:
    log: list[Any] = []
    broken = KeyKind("broken", log)
    healthy = KeyKind("healthy", log)

    class HalfBatch(RecordingBatch):
        def _flush(self) -> None:
            self.items[0].set_value("kept")
            raise ConnectionError("server went away")

    broken.active = HalfBatch(broken)

    @asynq.asynq()
    def read(kind: KeyKind, key: str) -> Any:
        try:
            return (yield kind.get(key))
        except ConnectionError as error:
            return f"error: {error}"

    @asynq.asynq()
    def page() -> Any:
        return (
            yield [read.asynq(broken, "b1"), read.asynq(broken, "b2"), read.asynq(healthy, "h1")]
        )

    assert page() == ["kept", "error: server went away", ("value", "h1")]
    assert double_check_scheduler_is_clean()


def double_check_scheduler_is_clean() -> bool:
    scheduler = get_scheduler()
    return not scheduler._ready and not scheduler._batches and scheduler.active_task is None


def test_an_item_the_flush_forgets_fails_with_a_batching_error(kv: KeyKind) -> None:
    class Forgetful(RecordingBatch):
        def _flush(self) -> None:
            self.items[0].set_value("only the first")

    kv.active = Forgetful(kv)
    first, second = kv.get("a"), kv.get("b")
    assert first.value() == "only the first"
    with pytest.raises(BatchingError, match=r"Forgetful._flush\(\) did not set a value"):
        second.value()


def test_a_failing_start_flush_fails_the_batch_without_calling_flush(kv: KeyKind) -> None:
    class CannotSend(RecordingBatch):
        def _start_flush(self) -> None:
            raise OSError("connection refused")

    kv.active = CannotSend(kv)
    item = kv.get("a")
    with pytest.raises(OSError, match="connection refused"):
        item.value()
    assert kv.flushes == []


def test_the_scheduler_works_after_a_flush_fails(kv: KeyKind) -> None:
    kv.fail_with = RuntimeError("boom")
    with pytest.raises(RuntimeError):
        kv.get("a").value()
    kv.fail_with = None
    assert kv.get("b").value() == ("value", "b")


def test_a_batch_item_value_outside_any_task_flushes_its_batch(kv: KeyKind) -> None:
    item = kv.get("solo")
    assert not item.is_computed()
    assert item.value() == ("value", "solo")
    assert kv.flushes == [["solo"]]


def test_items_created_during_a_flush_go_to_the_next_batch(kv: KeyKind) -> None:
    first = kv.get("first")
    old_batch = kv.active
    first.value()
    assert old_batch.is_flushed()
    assert kv.active is not old_batch
    second = kv.get("second")
    assert second.batch is kv.active


def test_cancel_fails_unset_items_with_batch_cancelled_error(kv: KeyKind) -> None:
    a, b = kv.get("a"), kv.get("b")
    a.set_value("early")
    kv.active.cancel()
    assert a.value() == "early"
    with pytest.raises(BatchCancelledError, match="RecordingBatch was cancelled"):
        b.value()


def test_cancel_with_an_error_uses_that_error(kv: KeyKind) -> None:
    item = kv.get("a")
    batch = item.batch
    batch.cancel(TimeoutError("gave up"))
    assert batch.is_cancelled() and batch.is_flushed()
    with pytest.raises(TimeoutError, match="gave up"):
        item.value()


def test_flush_hooks_see_every_batch_before_and_after_it_flushes(kv: KeyKind) -> None:
    seen: list[Any] = []
    scheduler = get_scheduler()

    def before(batch: BatchBase[Any]) -> None:
        seen.append(("before", batch.is_flushed(), len(batch.items)))

    def after(batch: BatchBase[Any]) -> None:
        seen.append(("after", batch.is_flushed(), len(batch.items)))

    scheduler.on_before_batch_flush.subscribe(before)
    scheduler.on_after_batch_flush.subscribe(after)
    try:

        @asynq.asynq()
        def two() -> Any:
            return (yield [kv.get(1), kv.get(2)])

        two()
    finally:
        scheduler.on_before_batch_flush.unsubscribe(before)
        scheduler.on_after_batch_flush.unsubscribe(after)
    assert seen == [("before", False, 2), ("after", True, 2)]


def test_higher_priority_batches_flush_first_within_a_round() -> None:
    log: list[Any] = []
    low, high = KeyKind("low", log), KeyKind("high", log)

    class Urgent(RecordingBatch):
        def get_priority(self) -> tuple[int, int]:
            return (1, 0)

    high.active = Urgent(high)

    @asynq.asynq()
    def both() -> Any:
        return (yield [low.get("l"), high.get("h")])

    both()
    assert [entry[:2] for entry in log if entry[0] == "flush"] == [
        ("flush", "high"),
        ("flush", "low"),
    ]


def test_debug_batch_items_resolve_to_their_results_in_one_flush() -> None:
    @asynq.asynq()
    def debug_pair() -> Any:
        return (yield DebugBatchItem("x", 1), DebugBatchItem("x", 2))

    first = DebugBatchItem("x")
    assert debug_pair() == (1, 2)
    assert first.batch.is_flushed()


def test_yielding_sync_waits_for_a_round_of_flushes(kv: KeyKind) -> None:
    order = []

    @asynq.asynq()
    def reader() -> Any:
        return (yield kv.get("k"))

    @asynq.asynq()
    def waiter() -> Any:
        yield sync()
        order.append(("after sync, flushes so far", len(kv.flushes)))

    @asynq.asynq()
    def both() -> Any:
        yield reader.asynq(), waiter.asynq()

    both()
    assert order == [("after sync, flushes so far", 1)]
    assert asynq.debug.sync is sync


def test_a_batch_whose_items_are_all_set_early_still_completes(kv: KeyKind) -> None:
    item = kv.get("a")
    item.set_value("preset")

    @asynq.asynq()
    def read() -> Any:
        return (yield item)

    assert read() == "preset"
    assert kv.flushes == []


def test_a_custom_batch_needs_the_two_required_methods() -> None:
    class Incomplete(BatchBase[Any]):
        pass

    batch = Incomplete()
    item = BatchItemBase(batch)
    with pytest.raises(NotImplementedError, match="must define _try_switch_active_batch"):
        item.value()


def test_a_batch_flushed_by_hand_before_its_round_does_not_count_as_a_round(kv: KeyKind) -> None:
    item = kv.get("k")

    @asynq.asynq()
    def reader() -> Any:
        return (yield item)

    @asynq.asynq()
    def flusher() -> Any:
        yield None
        item.batch.flush()

    @asynq.asynq()
    def both() -> Any:
        return (yield reader.asynq(), flusher.asynq())

    assert both() == (("value", "k"), None)
    assert kv.flushes == [["k"]]
    assert get_scheduler().stats.rounds == 0

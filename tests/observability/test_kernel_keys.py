"""The kernel hands each flushed batch to the statistics, so they count distinct keys."""

from __future__ import annotations

from asynq import stats

from .helpers import Blog


def test_statistics_count_distinct_keys_per_batch() -> None:
    blog = Blog()
    with stats.measure() as measured:
        blog.page([1, 2, 3, 4])
    assert [[(b.kind, b.items, b.keys) for b in r.batches] for r in measured.history] == [
        [("UsersBatch", 1, 1), ("LoggedBatch", 4, 4)],
        [("UsersBatch", 4, 2)],
    ]
    assert measured.keys == 7

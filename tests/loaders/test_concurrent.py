"""The concurrent batch: a round's per-key calls run together on a bounded pool.

Concurrency is proven structurally: a call waits on a barrier that only releases once N calls are
in flight at the same time (if they ran one after another, the barrier would break and the calls
would fail). No assertion here is about elapsed time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from asynq import asynq, get_scheduler
from asynq.batching import BatchingError
from asynq.loaders import ConcurrentCallTimeout, ConcurrentFunction, Loader, concurrent_batch

from .conftest import Recorder

BARRIER_TIMEOUT = 10  # only reached when the calls do not overlap (a failure)
# The timeouts below are far longer than a call that returns at once takes even on a loaded
# machine: only the calls that wait on an event exceed them.


class InFlight:
    """Counts the calls running at once and the worker threads they ran on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.threads: set[int] = set()
        self.calls: list[Any] = []

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.get_ident())

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


@pytest.fixture
def functions() -> Iterator[list[ConcurrentFunction[Any, Any]]]:
    """Concurrent functions made by a test; their pools are shut down afterwards."""
    made: list[ConcurrentFunction[Any, Any]] = []
    yield made
    for function in made:
        function.shutdown()


def make(
    functions: list[ConcurrentFunction[Any, Any]], fn: Any, **options: Any
) -> ConcurrentFunction[Any, Any]:
    function = concurrent_batch(**options)(fn)
    functions.append(function)
    return function


@asynq()
def gather(fn: ConcurrentFunction[Any, Any], keys: list[Any]) -> Any:
    return (yield [fn.asynq(k) for k in keys])


def test_the_calls_of_one_round_are_in_flight_at_the_same_time(functions: list[Any]) -> None:
    all_in = threading.Barrier(8, timeout=BARRIER_TIMEOUT)

    def call(key: int) -> int:
        all_in.wait()  # releases only when all 8 calls are running together
        return key * 2

    fetch = make(functions, call, max_workers=8)
    assert gather(fetch, list(range(8))) == [k * 2 for k in range(8)]
    assert get_scheduler().stats.rounds == 1


def test_no_more_than_max_workers_calls_run_at_once(functions: list[Any]) -> None:
    in_flight = InFlight()
    four_in = threading.Barrier(4, timeout=BARRIER_TIMEOUT)

    def call(key: int) -> int:
        with in_flight:
            four_in.wait()  # groups of exactly 4 calls run together
            return key

    fetch = make(functions, call, max_workers=4)
    assert gather(fetch, list(range(12))) == list(range(12))
    assert in_flight.most == 4
    assert len(in_flight.threads) == 4


def test_two_concurrent_batches_pending_in_one_round_overlap(functions: list[Any]) -> None:
    both_in = threading.Barrier(2, timeout=BARRIER_TIMEOUT)

    def acl(key: str) -> str:
        both_in.wait()  # needs the other function's call in flight at the same time
        return f"acl:{key}"

    def tags(key: str) -> str:
        both_in.wait()
        return f"tags:{key}"

    fetch_acl = make(functions, acl, max_workers=1)
    fetch_tags = make(functions, tags, max_workers=1)

    @asynq()
    def page() -> Any:
        return (yield fetch_acl.asynq("a"), fetch_tags.asynq("a"))

    assert page() == ("acl:a", "tags:a")
    (record,) = get_scheduler().stats.history
    assert sorted(b.kind for b in record.batches) == [
        "ConcurrentBatch[acl]",
        "ConcurrentBatch[tags]",
    ]


def test_a_loader_call_runs_while_the_concurrent_calls_of_its_round_are_in_flight(
    functions: list[Any],
) -> None:
    loader_ran = threading.Event()

    def call(key: int) -> str:
        # Returns only once the loader of the same round has been called: the concurrent batch
        # was submitted before the loader flushed, not after.
        return "overlapped" if loader_ran.wait(BARRIER_TIMEOUT) else "sequential"

    def load_many(keys: list[int]) -> list[int]:
        loader_ran.set()
        return keys

    fetch = make(functions, call)
    load = Loader(load_many)

    @asynq()
    def page() -> Any:
        return (yield fetch.asynq(1), load.asynq(2))

    assert page() == ("overlapped", 2)


def test_identical_calls_in_a_round_run_once(functions: list[Any]) -> None:
    recorder = Recorder()
    fetch = make(functions, lambda key, *, region="eu": recorder([(key, region)])[0])

    @asynq()
    def page() -> Any:
        return (
            yield [
                fetch.asynq(1),
                fetch.asynq(1),
                fetch.asynq(1, region="us"),
                fetch.asynq(1, region="us"),
                fetch.asynq(2),
            ]
        )

    assert page() == ["v(1, 'eu')", "v(1, 'eu')", "v(1, 'us')", "v(1, 'us')", "v(2, 'eu')"]
    assert sorted(recorder.keys) == [[(1, "eu")], [(1, "us")], [(2, "eu")]]


def test_calls_with_unhashable_arguments_are_not_deduplicated(functions: list[Any]) -> None:
    calls: list[Any] = []
    fetch = make(functions, lambda query: calls.append(query) or len(query), max_workers=1)
    assert gather(fetch, [["a"], ["a"]]) == [1, 1]
    assert calls == [["a"], ["a"]]


def test_calls_in_later_rounds_run_again(functions: list[Any]) -> None:
    calls: list[int] = []
    fetch = make(functions, lambda key: calls.append(key) or key, max_workers=1)

    @asynq()
    def twice() -> Any:
        first = yield fetch.asynq(1)
        second = yield fetch.asynq(1)
        return first, second

    assert twice() == (1, 1)
    assert calls == [1, 1]


def test_an_exception_fails_only_its_own_call(functions: list[Any]) -> None:
    def call(key: int) -> int:
        if key == 2:
            raise KeyError(key)
        return key

    fetch = make(functions, call)
    futures = [fetch.asynq(k) for k in (1, 2, 3)]
    assert futures[0].value() == 1
    assert futures[2].value() == 3
    assert isinstance(futures[1].error(), KeyError)


def test_a_synchronous_call_runs_on_the_functions_pool(functions: list[Any]) -> None:
    fetch = make(functions, lambda key: (key, threading.current_thread().name), name="fetch_acl")
    key, thread_name = fetch("a")
    assert key == "a"
    assert thread_name.startswith("asynq-fetch_acl")


def test_a_call_that_exceeds_the_timeout_fails_and_the_others_of_its_round_succeed(
    functions: list[Any],
) -> None:
    release = threading.Event()

    def call(key: str) -> str:
        if key == "stuck":
            release.wait(BARRIER_TIMEOUT)
        return key

    fetch = make(functions, call, max_workers=4, timeout=0.5, name="fetch_acl")
    try:
        futures = [fetch.asynq(k) for k in ("a", "stuck", "b")]
        assert futures[0].value() == "a"
        assert futures[2].value() == "b"
        error = futures[1].error()
        assert isinstance(error, ConcurrentCallTimeout)
        assert isinstance(error, TimeoutError)
        assert str(error).startswith("fetch_acl('stuck') did not return within timeout=0.5 s")
    finally:
        release.set()


def test_the_timeout_counts_from_when_a_call_starts_not_while_it_waits_for_a_worker(
    functions: list[Any],
) -> None:
    # One worker, timeout 1 s: the first two calls take 0.6 s each, so the third waits 1.2 s
    # for the worker. It succeeds because its own run is instant.
    def call(key: int) -> int:
        if key < 2:
            time.sleep(0.6)
        return key

    fetch = make(functions, call, max_workers=1, timeout=1.0)
    assert gather(fetch, [0, 1, 2]) == [0, 1, 2]


def test_calls_queued_behind_workers_held_by_timed_out_calls_fail_instead_of_waiting_forever(
    functions: list[Any],
) -> None:
    release = threading.Event()
    ran: list[str] = []

    def call(key: str) -> str:
        ran.append(key)
        if key == "stuck":
            release.wait(BARRIER_TIMEOUT)
        return key

    fetch = make(functions, call, max_workers=1, timeout=0.5, name="fetch_acl")
    try:
        stuck, queued = fetch.asynq("stuck"), fetch.asynq("queued")
        assert isinstance(stuck.error(), ConcurrentCallTimeout)
        error = queued.error()
        assert isinstance(error, ConcurrentCallTimeout)
        assert "could not start: all 1 worker(s) are held" in str(error)
        assert ran == ["stuck"]
    finally:
        release.set()
    fetch.shutdown()  # waits for the stuck call to return
    assert fetch("later") == "later"  # a fresh pool


def test_a_worker_held_by_a_timed_out_call_serves_new_calls_once_it_returns(
    functions: list[Any],
) -> None:
    release = threading.Event()
    returned = threading.Event()

    def call(key: str) -> str:
        if key == "stuck":
            release.wait(BARRIER_TIMEOUT)
            returned.set()
        return key

    fetch = make(functions, call, max_workers=1, timeout=0.5)
    with pytest.raises(ConcurrentCallTimeout):
        fetch("stuck")
    release.set()
    returned.wait(BARRIER_TIMEOUT)
    assert fetch("next") == "next"


def test_a_call_pending_when_the_pool_shuts_down_fails_with_a_batching_error(
    functions: list[Any],
) -> None:
    started = threading.Event()
    release = threading.Event()

    def call(key: int) -> int:
        started.set()
        release.wait(BARRIER_TIMEOUT)
        return key

    fetch = make(functions, call, max_workers=1)
    batch = fetch.asynq(1).batch  # type: ignore[attr-defined]
    queued = fetch.asynq(2)
    batch._begin_flush()  # submits both; the second waits for the only worker
    started.wait(BARRIER_TIMEOUT)
    threading.Thread(target=lambda: (time.sleep(0.05), release.set())).start()
    fetch.shutdown()  # cancels the queued call, waits for the running one
    batch.flush()
    assert batch.items[0].value() == 1
    error = queued.error()
    assert isinstance(error, BatchingError)
    assert "cancelled before it ran" in str(error)


def test_results_are_set_on_the_schedulers_thread(functions: list[Any]) -> None:
    set_on: list[int] = []
    fetch = make(functions, lambda key: key)
    future = fetch.asynq(1)
    future.on_computed.subscribe(lambda _: set_on.append(threading.get_ident()))
    assert future.value() == 1
    assert set_on == [threading.get_ident()]

"""Request scopes: inside one, each key is fetched at most once; outside, each call is one."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from asynq import asynq
from asynq.memcache import MemcacheClient

from .conftest import record_trips


def test_inside_a_request_scope_a_key_is_fetched_once_and_then_read_locally(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set("a", 1)
    with mc.request():
        assert mc.get("a") == 1
        assert mc.get("a") == 1
        assert mc.get_many(["a", "b"]) == {"a": 1}
        assert mc.get_many(["a", "b"]) == {"a": 1}
    assert trips == [["a"], ["b"]]


def test_a_miss_is_remembered_too(mc: MemcacheClient, trips: list[list[str]]) -> None:
    with mc.request():
        assert mc.get("absent") is None
        assert mc.get("absent", default=0) == 0
    assert trips == [["absent"]]


def test_outside_a_scope_each_top_level_call_is_its_own_request(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set("a", 1)
    assert mc.get("a") == 1
    assert mc.get("a") == 1
    assert trips == [["a"], ["a"]]


def test_a_top_level_asynq_call_shares_one_scope_across_its_rounds(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set_many({"a": 1, "b": 2})

    @asynq()
    def twice() -> Any:
        first = yield mc.get.asynq("a")
        second = yield mc.get.asynq("a"), mc.get.asynq("b")
        return first, second

    assert twice() == (1, (1, 2))
    assert trips == [["a"], ["b"]]
    trips.clear()
    assert twice() == (1, (1, 2))
    assert trips == [["a"], ["b"]]


def test_values_written_in_a_scope_are_read_back_without_a_round_trip(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    with mc.request():
        mc.set("k", "v")
        assert mc.get("k") == "v"
        mc.delete("k")
        assert mc.get("k") is None
    assert trips == [["k"]]


def test_a_scope_opened_inside_a_task_follows_that_task(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set("k", 1)

    @asynq()
    def scoped() -> Any:
        with mc.request():
            first = yield mc.get.asynq("k")
            second = yield mc.get.asynq("k")
        return first + second

    @asynq()
    def both() -> Any:
        return (yield scoped.asynq(), scoped.asynq())

    assert both() == (2, 2)
    assert trips == [["k"]]


def test_each_thread_has_its_own_batches_and_scopes(mc: MemcacheClient) -> None:
    mc.set_many({f"t{i}": i for i in range(4)})
    results: dict[int, Any] = {}

    @asynq()
    def read(i: int) -> Any:
        return (yield mc.get.asynq(f"t{i}"), mc.get.asynq("shared"))

    def worker(i: int) -> None:
        with mc.request():
            results[i] = read(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: (i, None) for i in range(4)}


def test_cached_functions_read_each_key_once_per_request(
    mc: MemcacheClient,
) -> None:
    trips = record_trips(mc)

    @mc.cached("sq")
    def square(x: int) -> int:
        return x * x

    with mc.request():
        assert [square(2), square(2), square(3)] == [4, 4, 9]
    with mc.request():
        assert square(2) == 4
    assert trips == [["sq:2"], ["sq:3"], ["sq:2"]]


def test_a_top_level_task_that_never_finishes_leaves_no_stale_scope_behind(
    mc: MemcacheClient, memcached: Any
) -> None:
    from asynq import AsyncTaskError, FutureBase

    mc.set("k", 1)

    @asynq()
    def stuck() -> Any:
        yield mc.get.asynq("k")
        yield FutureBase()  # nothing will ever compute it

    with pytest.raises(AsyncTaskError):
        stuck()
    with MemcacheClient(memcached.address) as other:
        other.set("k", 2)
    assert mc.get("k") == 2

    @mc.cached("after")
    def after(x: int) -> int:
        return x

    assert after.asynq(1).value() == 1


def test_futures_created_outside_tasks_are_their_own_requests(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set_many({"a": 1, "b": 2})

    @mc.cached("sq")
    def square(x: int) -> int:
        return x * x

    first, second = square.asynq(3), square.asynq(3)
    assert (first.value(), second.value()) == (9, 9)
    assert mc.get.asynq("a").value() == 1
    assert mc.get_many.asynq(["a", "b"]).value() == {"a": 1, "b": 2}
    assert trips == [["sq:3"], ["a"], ["a", "b"]]
    assert square.asynq(3).value() == 9
    assert trips[-1] == ["sq:3"]


def test_a_request_block_is_one_request_for_every_client_and_loader_inside(
    mc: MemcacheClient, trips: list[list[str]], memcached: Any
) -> None:
    from asynq.loaders import loader
    from asynq.request_roots import current_storage

    loads: list[list[int]] = []

    @loader()
    def double(keys: list[int]) -> list[int]:
        loads.append(list(keys))
        return [key * 2 for key in keys]

    other = MemcacheClient(memcached.address)
    other_trips = record_trips(other)
    try:
        with mc.request() as scope:
            request = current_storage()
            assert request is not None and request.get(mc) is scope
            assert mc.get("a") is None and other.get("b") is None
            assert double(2) == 4
            assert mc.get("a") is None and other.get("b") is None
            assert double(2) == 4
            assert request.get(other) is not None
        assert request.closed and scope.closed
        assert trips == [["a"]] and other_trips == [["b"]] and loads == [[2]]
        assert double(2) == 4
        assert loads == [[2], [2]]
    finally:
        other.close()


def test_a_request_block_inside_a_web_style_request_starts_afresh_and_then_gives_it_back(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    from asynq.request_roots import RequestStorage

    mc.set("a", 1)
    with RequestStorage():
        assert mc.get("a") == 1
        with mc.request():
            assert mc.get("a") == 1
        assert mc.get("a") == 1
    assert trips == [["a"], ["a"]]


def test_two_top_level_tasks_are_two_requests_with_separate_scopes(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    from asynq.request_roots import current_storage

    mc.set("a", 1)
    seen: list[Any] = []

    @asynq()
    def read() -> Any:
        value = yield mc.get.asynq("a")
        storage = current_storage()
        assert storage is not None
        seen.append(storage.get(mc))
        return value

    first, second = read.asynq(), read.asynq()
    assert first.value() == 1 and second.value() == 1
    assert seen[0] is not seen[1]
    assert seen[0].closed and seen[1].closed


def test_cached_reads_of_interleaved_top_level_tasks_each_go_through_their_own_request(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    # Reads remember the scope of the task that read last, and of its siblings (same creator):
    # top-level tasks have no creator, and are not siblings of one another.
    from asynq.lowlevel import start_task
    from asynq.request_roots import current_storage

    @mc.cached("request.roots")
    def ident(x: int) -> int:
        return x

    scopes: list[Any] = []
    held: list[list[str]] = []

    @asynq()
    def child(x: int) -> Any:
        value = yield ident.asynq(x)
        return value

    @asynq()
    def read(x: int) -> Any:
        first = yield ident.asynq(x)
        second = yield [child.asynq(x), child.asynq(x + 1)]
        storage = current_storage()
        assert storage is not None
        scope = storage.get(mc)
        scopes.append(scope)
        held.append(sorted(scope.values))
        return [first, *second]

    assert ident(1) == 1 and ident(2) == 2  # stored: every read below is a hit
    trips.clear()
    first, second = read.asynq(1), read.asynq(1)
    start_task(second, ())  # runs with the first, step for step
    assert first.value() == [1, 1, 2] and second.value() == [1, 1, 2]
    assert scopes[0] is not scopes[1]
    # Each request read both keys into its own scope (the children through their parent's),
    # in the same two rounds.
    assert held == [["request.roots:1", "request.roots:2"]] * 2
    assert trips == [["request.roots:1"], ["request.roots:2"]]
    assert all(scope.closed for scope in scopes)


def test_a_cached_read_inside_a_block_a_task_opens_goes_through_the_blocks_scope_and_after_it_not(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    @mc.cached("request.ident")
    def ident(x: int) -> int:
        return x

    @asynq()
    def reads() -> Any:
        yield ident.asynq(1)  # the top-level task's scope
        with mc.request() as block:
            yield ident.asynq(1)  # a new request: read again
            yield ident.asynq(1)  # from the block's scope
        yield ident.asynq(1)  # the top-level task's scope again
        return block

    assert ident(1) == 1  # stored: every read below is a hit
    trips.clear()
    block = reads()
    assert block.closed
    assert trips == [["request.ident:1"], ["request.ident:1"]]

"""Legacy priming: record keys, drive generators in rounds, one multi-get per round."""

from __future__ import annotations

from typing import Any

import pytest

from asynq import priming
from asynq.memcache import MemcacheClient
from tests.memcache.blog import build, expected_page
from tests.memcache.conftest import record_trips


def test_priming_costs_the_same_round_trips_as_asynq_on_the_blog_page_cold_and_warm(
    memcached: Any, mc: MemcacheClient, trips: list[list[str]]
) -> None:
    blog = build(mc)
    seen: dict[str, list[list[list[str]]]] = {}
    for variant in ("page_asynq", "page_priming"):
        memcached.flush_all()
        for _ in ("cold", "warm"):
            trips.clear()
            with mc.request():
                assert blog.fns[variant](blog.answers) == expected_page(blog)
            seen.setdefault(variant, []).append(list(trips))
    assert seen["page_priming"] == seen["page_asynq"]
    assert [len(run) for run in seen["page_asynq"]] == [2, 2]

    trips.clear()
    with mc.request():
        assert blog.fns["page_naive"](blog.answers) == expected_page(blog)
    distinct_users = {u for a in blog.answers for u in blog.upvoters[a]}
    assert len(trips) == len(blog.answers) + len(distinct_users)  # one round trip per key


def test_priming_cold_computes_each_miss_once_and_writes_it_back(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    blog = build(mc)
    with mc.request():
        assert blog.fns["page_priming"](blog.answers) == expected_page(blog)
    assert len(trips) == 2
    distinct_users = {u for a in blog.answers for u in blog.upvoters[a]}
    assert len(blog.db_reads) == len(blog.answers) + len(distinct_users)
    blog.db_reads.clear()
    trips.clear()
    with mc.request():
        assert blog.fns["page_asynq"](blog.answers) == expected_page(blog)
    assert blog.db_reads == [] and len(trips) == 2


def test_prime_records_keys_without_any_io_until_a_plain_read(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    @mc.cached("sq")
    def square(x: int) -> int:
        return x * x

    prime_square = square.prime
    with mc.request():
        prime_square(1)
        prime_square(2)
        square.prime(2)
        assert trips == []
        assert priming.pending()
        assert square(2) == 4
        assert square(1) == 1
        assert not priming.pending()
    assert trips == [["sq:1", "sq:2"]]


def test_hand_written_priming_functions_that_call_others_batch_everything(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    @mc.cached("a")
    def a(x: int) -> int:
        return x

    @mc.cached("b")
    def b(x: int) -> int:
        return -x

    def prime_pair(x: int) -> None:
        a.prime(x)
        b.prime(x)

    def prime_many(xs: list[int]) -> None:
        for x in xs:
            prime_pair(x)

    with mc.request():
        prime_many([1, 2])
        assert [a(1), b(1), a(2), b(2)] == [1, -1, 2, -2]
    assert trips == [["a:1", "b:1", "a:2", "b:2"]]


def test_generators_are_driven_in_rounds_and_later_ones_join_the_current_round(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    mc.set_many({"next:1": 2, "next:2": 3, "next:3": 4})
    order: list[str] = []

    @mc.cached("next")
    def successor(x: int) -> int:
        return x + 1

    @priming.generator
    def prime_chain(x: int, depth: int) -> Any:
        order.append(f"start {x}")
        successor.prime(x)
        yield
        if depth > 1:
            prime_chain(successor(x), depth - 1)

    with mc.request():
        prime_chain(1, 3)
        prime_chain(10, 1)
        assert order == []
        priming.drive()
        assert order == ["start 1", "start 10", "start 2", "start 3"]
        assert successor(3) == 4
    assert trips == [["next:1", "next:10"], ["next:2"], ["next:3"]]


def test_a_generator_that_yields_without_priming_costs_no_round_trip(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    @priming.generator
    def prime_nothing() -> Any:
        yield
        yield

    with mc.request():
        prime_nothing()
        priming.drive()
    assert trips == []


def test_an_error_in_a_priming_generator_reaches_the_reader_and_clears_the_work(
    mc: MemcacheClient,
) -> None:
    @mc.cached("v")
    def value(x: int) -> int:
        return x

    @priming.generator
    def prime_broken() -> Any:
        value.prime(1)
        yield
        raise LookupError("broken priming")

    with mc.request():
        prime_broken()
        with pytest.raises(LookupError, match="broken priming"):
            value(1)
        assert not priming.pending()
        assert value(1) == 1


def test_outside_a_request_scope_priming_uses_a_thread_scope_until_end_request(
    mc: MemcacheClient,
) -> None:
    trips = record_trips(mc)

    @mc.cached("t")
    def t(x: int) -> int:
        return x

    t.prime(1)
    t.prime(2)
    assert [t(1), t(2), t(1)] == [1, 2, 1]
    assert trips == [["t:1", "t:2"]]
    priming.end_request()
    assert t(1) == 1
    assert trips == [["t:1", "t:2"], ["t:1"]]


def test_what_one_thread_primed_is_pending_on_that_thread_only(mc: MemcacheClient) -> None:
    import threading

    trips = record_trips(mc)

    @mc.cached("per-thread")
    def t(x: int) -> int:
        return x

    t.prime(1)
    seen: dict[str, Any] = {}

    def other() -> None:
        seen["pending"] = priming.pending()
        seen["reads"] = priming.reads_pending()
        seen["value"] = t(2)  # a read of its own: it does not drive this thread's priming

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == {"pending": False, "reads": False, "value": 2}
    assert trips == [["per-thread:2"]]
    assert priming.pending() and priming.reads_pending()
    assert t(1) == 1
    assert trips == [["per-thread:2"], ["per-thread:1"]]
    priming.end_request()


def test_priming_over_two_clients_fetches_both_in_one_round(memcached: Any) -> None:
    from asynq import get_scheduler

    first = MemcacheClient(memcached.address, key_prefix="1:")
    second = MemcacheClient(memcached.address, key_prefix="2:")

    @first.cached("x")
    def x(i: int) -> int:
        return i

    @second.cached("y")
    def y(i: int) -> int:
        return -i

    with first.request(), second.request():
        x.prime(1)
        y.prime(1)
        before = get_scheduler().stats.rounds
        priming.drive()
        assert get_scheduler().stats.rounds - before == 1
        assert (x(1), y(1)) == (1, -1)


def test_is_priming_generator_tells_the_decorated_twins_apart() -> None:
    @priming.generator
    def prime_g() -> Any:
        yield

    def prime_plain() -> None:
        pass

    assert priming.is_priming_generator(prime_g)
    assert not priming.is_priming_generator(prime_plain)
    assert prime_g.__name__ == "prime_g"

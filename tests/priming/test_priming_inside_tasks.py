"""Priming done inside a running @asynq() task joins that task's next round (same multi-get)."""

from __future__ import annotations

from typing import Any

import pytest

from asynq import asynq, priming
from asynq.memcache import MemcacheClient


def _functions(mc: MemcacheClient) -> Any:
    @mc.cached("sq")
    def square(x: int) -> int:
        return x * x

    @mc.cached("cube")
    def cube(x: int) -> int:
        return x * x * x

    @mc.cached("ids")
    def ids_of(n: int) -> list[int]:
        return list(range(n))

    return square, cube, ids_of


def test_keys_primed_inside_a_task_are_fetched_in_the_same_multi_get_as_its_next_read(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square, cube, _ = _functions(mc)

    @asynq()
    def page() -> Any:
        for x in range(3):
            square.prime(x)
        c = yield cube.asynq(2)
        squares = yield [square.asynq(x) for x in range(3)]
        return c, squares

    with mc.request():
        assert page() == (8, [0, 1, 4])
    assert len(trips) == 1
    assert sorted(trips[0]) == ["cube:2", "sq:0", "sq:1", "sq:2"]


def test_a_priming_generator_called_in_a_task_advances_one_stage_per_round_with_the_task(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square, cube, ids_of = _functions(mc)

    @priming.generator
    def prime_squares_of_ids(n: int) -> Any:
        ids_of.prime(n)
        yield
        for x in ids_of(n):
            square.prime(x)

    @asynq()
    def page() -> Any:
        prime_squares_of_ids(3)
        c = yield cube.asynq(1)
        d = yield cube.asynq(c + 1)
        ids = yield ids_of.asynq(3)
        return d, (yield [square.asynq(x) for x in ids])

    with mc.request():
        assert page() == (8, [0, 1, 4])
    assert [sorted(keys) for keys in trips] == [
        ["cube:1", "ids:3"],
        ["cube:2", "sq:0", "sq:1", "sq:2"],
    ]


def test_plain_reads_in_a_later_stage_are_served_from_the_request_cache(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square, cube, ids_of = _functions(mc)
    seen: list[int] = []

    @priming.generator
    def prime_cubes_of_ids(n: int) -> Any:
        ids_of.prime(n)
        yield
        for x in ids_of(n):
            seen.append(x)
            cube.prime(x)

    @asynq()
    def page() -> Any:
        prime_cubes_of_ids(2)
        yield square.asynq(5)
        yield square.asynq(6)
        return (yield [cube.asynq(x) for x in (0, 1)])

    with mc.request():
        assert page() == [0, 1]
    assert seen == [0, 1]
    assert len(trips) == 2


def test_a_generator_a_stage_calls_fetches_its_first_keys_in_the_callers_round(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square, cube, ids_of = _functions(mc)

    @priming.generator
    def prime_inner(n: int) -> Any:
        square.prime(n)
        yield
        cube.prime(square(n))

    @priming.generator
    def prime_outer(n: int) -> Any:
        ids_of.prime(n)
        prime_inner(n)
        yield
        for x in ids_of(n):
            square.prime(x + 10)

    @asynq()
    def page() -> Any:
        prime_outer(2)
        yield ids_of.asynq(2)
        a, b = yield square.asynq(10), cube.asynq(4)
        return a + b

    with mc.request():
        assert page() == 164
    assert [sorted(keys) for keys in trips] == [
        ["ids:2", "sq:2"],
        ["cube:4", "sq:10", "sq:11"],
    ]


def test_an_asynq_function_primed_inside_a_task_runs_in_the_same_round(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square, cube, _ = _functions(mc)

    @asynq()
    def square_plus_cube(x: int) -> Any:
        s, c = yield square.asynq(x), cube.asynq(x)
        return s + c

    prime_square_plus_cube = priming.primer(square_plus_cube)

    @asynq()
    def page() -> Any:
        for x in (1, 2):
            prime_square_plus_cube(x)
        first = yield square.asynq(7)
        return first, (yield [square_plus_cube.asynq(x) for x in (1, 2)])

    with mc.request():
        assert page() == (49, [2, 12])
    assert len(trips) == 1
    assert sorted(trips[0]) == ["cube:1", "cube:2", "sq:1", "sq:2", "sq:7"]


def test_a_synchronous_call_after_a_task_primed_is_fetched_with_what_the_task_left_pending(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square, cube, ids_of = _functions(mc)

    @priming.generator
    def prime_squares_of_ids(n: int) -> Any:
        ids_of.prime(n)
        yield
        for x in ids_of(n):
            square.prime(x)

    @asynq()
    def ids(n: int) -> Any:
        prime_squares_of_ids(n)
        return (yield ids_of.asynq(n))

    with mc.request():
        got = ids(3)
        assert [square(x) for x in got] == [0, 1, 4]
    assert [sorted(keys) for keys in trips] == [["ids:3"], ["sq:0", "sq:1", "sq:2"]]


def test_a_key_already_cached_is_not_fetched_again_when_a_task_primes_it(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square, cube, _ = _functions(mc)

    @asynq()
    def page() -> Any:
        square.prime(3)
        return (yield square.asynq(3))

    with mc.request():
        assert square(3) == 9
        assert page() == 9
    assert trips == [["sq:3"]]


def test_an_error_in_a_later_stage_run_inside_a_task_is_raised_by_the_next_plain_read(
    mc: MemcacheClient,
) -> None:
    square, _, ids_of = _functions(mc)

    @priming.generator
    def prime_broken(n: int) -> Any:
        ids_of.prime(n)
        yield
        raise ValueError(f"broken stage {n}")

    @asynq()
    def page() -> Any:
        prime_broken(2)
        return (yield ids_of.asynq(2))

    with mc.request():
        assert page() == [0, 1]
        with pytest.raises(ValueError, match="^broken stage 2$"):
            square(1)
        assert square(1) == 1


def test_plain_reads_of_the_task_wait_for_the_stage_that_primes_them_even_on_a_cold_cache(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square, cube, ids_of = _functions(mc)

    @asynq()
    def ids_async(n: int) -> Any:
        return (yield ids_of.asynq(n))

    @priming.generator
    def prime_squares_of_ids(n: int) -> Any:
        ids_of.prime(n)
        yield
        for x in ids_async(n):  # a plain call that waits for the task computing the miss
            square.prime(x)

    @asynq()
    def page(n: int) -> Any:
        prime_squares_of_ids(n)
        ids = yield ids_async.asynq(n)
        return [square(x) for x in ids]  # plain reads, left as they were

    with mc.request():
        assert page(4) == [0, 1, 4, 9]
    assert [sorted(keys) for keys in trips] == [["ids:4"], ["sq:0", "sq:1", "sq:2", "sq:3"]]

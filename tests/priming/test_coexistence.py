"""Legacy priming and asynq code in one program: neither costs the other a round trip."""

from __future__ import annotations

from typing import Any

import pytest

from asynq import asynq, priming
from asynq.memcache import MemcacheClient


def _square(mc: MemcacheClient, calls: list[int] | None = None) -> Any:
    @mc.cached("sq")
    def square(x: int) -> int:
        if calls is not None:
            calls.append(x)
        return x * x

    return square


def test_a_synchronous_asynq_call_first_fetches_everything_primed_in_one_round_trip(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square = _square(mc)

    @asynq()
    def double_square(x: int) -> Any:
        return 2 * (yield square.asynq(x))

    with mc.request():
        for x in range(5):
            square.prime(x)
        assert [double_square(x) for x in range(5)] == [0, 2, 8, 18, 32]
    assert len(trips) == 1 and len(trips[0]) == 5


def test_priming_an_asynq_function_runs_its_task_with_the_primed_keys_in_one_round(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square = _square(mc)

    @mc.cached("cube")
    def cube(x: int) -> int:
        return x * x * x

    @asynq()
    def square_plus_cube(x: int) -> Any:
        s, c = yield square.asynq(x), cube.asynq(x)
        return s + c

    prime_square_plus_cube = priming.primer(square_plus_cube)
    with mc.request():
        for x in range(3):
            prime_square_plus_cube(x)
            square.prime(x + 10)
        assert trips == []  # recording does no I/O
        assert [square_plus_cube(x) for x in range(3)] == [0, 2, 12]
        assert [square(x + 10) for x in range(3)] == [100, 121, 144]
    assert len(trips) == 1 and len(trips[0]) == 9


def test_a_primed_asynq_task_that_needs_two_rounds_shares_them_with_a_priming_generator(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square = _square(mc)

    @asynq()
    def square_of_square(x: int) -> Any:
        s = yield square.asynq(x)
        return (yield square.asynq(s))

    @priming.generator
    def prime_square_of_square_by_hand(x: int) -> Any:
        square.prime(x + 1)
        yield
        square.prime(square(x + 1) + 1)

    with mc.request():
        priming.prime(square_of_square, 2)
        prime_square_of_square_by_hand(2)
        priming.drive()
        assert len(trips) == 2
        assert square_of_square(2) == 16
        assert square(10) == 100
    assert len(trips) == 2


def test_priming_a_cached_function_with_priming_prime_records_its_key(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    square = _square(mc)
    with mc.request():
        priming.prime(square, 3)
        priming.prime(square, 4)
        assert square(3) + square(4) == 25
    assert len(trips) == 1


def test_priming_something_that_is_neither_cached_nor_asynq_is_a_clear_error() -> None:
    def plain(x: int) -> int:
        return x

    with pytest.raises(TypeError) as info:
        priming.prime(plain, 1)
    assert str(info.value) == (
        "priming.prime expects a cached function (@mc.cached) or an @asynq() function, got "
        "function plain; call its priming twin instead, or decorate it"
    )


def test_an_error_in_a_primed_asynq_task_reaches_the_synchronous_call_not_the_priming(
    mc: MemcacheClient,
) -> None:
    square = _square(mc)

    @asynq()
    def broken(x: int) -> Any:
        yield square.asynq(x)
        raise ValueError(f"broken {x}")

    with mc.request():
        priming.prime(broken, 1)
        priming.drive()
        with pytest.raises(ValueError, match="broken 1"):
            broken(1)


def test_a_cached_body_that_primes_does_not_hand_a_missing_marker_to_an_asynq_reader(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    @mc.cached("profile")
    def profile(uid: int) -> dict[str, str]:
        return {"name": f"user{uid}"}

    @mc.cached("other")
    def other(x: int) -> int:
        return x

    @mc.cached("title")
    def title(uid: int) -> str:
        profile.prime(uid)  # priming left inside a cached body
        return profile(uid)["name"].title()

    @asynq()
    def reader(uid: int) -> Any:
        yield other.asynq(uid)
        return (yield profile.asynq(uid))["name"]

    @asynq()
    def page(uid: int) -> Any:
        return (yield title.asynq(uid), reader.asynq(uid))

    with mc.request():
        assert page(7) == ("User7", "user7")
    trips.clear()
    with mc.request():
        assert page(7) == ("User7", "user7")
    assert len(trips) == 2


def test_a_primed_key_that_missed_is_computed_once_when_several_asynq_tasks_read_it(
    mc: MemcacheClient,
) -> None:
    calls: list[int] = []
    square = _square(mc, calls)

    @asynq()
    def page() -> Any:
        return (yield [square.asynq(3) for _ in range(4)] + [square.asynq(4)])

    with mc.request():
        square.prime(3)
        square.prime(4)
        priming.drive()
        assert page() == [9, 9, 9, 9, 16]
    assert sorted(calls) == [3, 4]


def test_a_registered_cached_function_type_is_primed_through_its_own_prime_method() -> None:
    class Primable:
        def __init__(self) -> None:
            self.primed: list[tuple[Any, ...]] = []

        def prime(self, *args: Any) -> None:
            self.primed.append(args)

        def __call__(self, *args: Any) -> None:
            raise AssertionError("priming never calls the function")

    priming.register_cached_type(Primable)
    fn = Primable()
    priming.prime(fn, 1)
    priming.primer(fn)(2)
    assert fn.primed == [(1,), (2,)]


def test_registering_something_without_a_prime_method_names_what_it_got() -> None:
    with pytest.raises(TypeError) as info:
        priming.register_cached_type(int)
    assert str(info.value) == (
        "register_cached_type() expects a class with a prime(*args) method, got type: "
        "<class 'int'>"
    )


def test_reads_pending_and_driving_say_what_a_plain_read_would_drive_first(
    mc: MemcacheClient,
) -> None:
    square = _square(mc)
    with mc.request():
        assert not priming.reads_pending() and not priming.driving()
        square.prime(3)
        assert priming.reads_pending() and priming.pending()
        assert square(3) == 9
        assert not priming.reads_pending() and not priming.driving()

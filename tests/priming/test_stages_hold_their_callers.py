"""A converted function that still calls its priming twin keeps the twin's round trips.

Each test runs one page twice against a real memcached: as legacy code (plain calls, priming
driven by the first plain read) and as a converted ``@asynq()`` function that still calls the
same twin, with some of its reads left as plain calls. Both must return the same value with
the same round trips, cold and warm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from asynq import asynq, priming
from asynq.memcache import MemcacheClient
from asynq.scheduler import get_scheduler

#: Scheduling orders the tests run under (None: first in, first out; a number: a seeded
#: shuffle of ready tasks and batches). Round trips must not depend on them.
ORDERS = [None, *range(12)]


def _trips_of(
    mc: MemcacheClient, trips: list[list[str]], page: Callable[[], Any]
) -> tuple[Any, list[list[str]], list[list[str]]]:
    """The page's value and its multi-gets, cold then warm (one request each)."""
    runs = []
    value = None
    for _ in ("cold", "warm"):
        trips.clear()
        with mc.request():
            got = page()
        priming.end_request()
        mc.get("sync")  # anything priming left in flight goes out now, not with the next page
        trips.pop()
        assert value is None or got == value
        value = got
        runs.append([sorted(keys) for keys in trips])
    return value, runs[0], runs[1]


def _model(mc: MemcacheClient, namespace: str) -> Any:
    """Shelves of books, each book with a rating computed from its reviews (cached)."""

    class Model:
        pass

    m = Model()

    @mc.cached(f"{namespace}.shelves")
    def shelf_ids(user: int) -> list[int]:
        return [user * 10 + 1, user * 10 + 2]

    @mc.cached(f"{namespace}.shelf")
    def shelf_row(shelf: int) -> dict[str, Any]:
        return {"books": [shelf * 10 + 1, shelf * 10 + 2, shelf * 10 + 3]}

    @mc.cached(f"{namespace}.reviews")
    def review_ids(book: int) -> list[int]:
        return [book * 10 + 1, book * 10 + 2]

    @mc.cached(f"{namespace}.review")
    def review_row(review: int) -> dict[str, int]:
        return {"stars": review % 5 + 1}

    @mc.cached(f"{namespace}.rating")
    def rating(book: int) -> int:
        # A cached body that primes what it reads, as legacy code does.
        ids = review_ids(book)
        for review in ids:
            review_row.prime(review)
        return sum(review_row(review)["stars"] for review in ids)

    @priming.generator
    def prime_rating(book: int) -> Any:
        rating.prime(book)
        review_ids.prime(book)
        yield
        for review in review_ids(book):
            review_row.prime(review)

    @priming.generator
    def prime_books_on_shelves(user: int) -> Any:
        shelf_ids.prime(user)
        yield
        for shelf in shelf_ids(user):
            shelf_row.prime(shelf)

    m.__dict__.update(
        shelf_ids=shelf_ids,
        shelf_row=shelf_row,
        review_ids=review_ids,
        review_row=review_row,
        rating=rating,
        prime_rating=prime_rating,
        prime_books_on_shelves=prime_books_on_shelves,
    )
    return m


@pytest.mark.parametrize("order", ORDERS)
def test_a_later_stage_runs_after_the_round_that_fetched_what_the_generators_it_called_primed(
    mc: MemcacheClient, trips: list[list[str]], order: int | None
) -> None:
    m = _model(mc, "lockstep")

    def books_on_shelves(user: int) -> list[int]:
        return [book for shelf in m.shelf_ids(user) for book in m.shelf_row(shelf)["books"]]

    @priming.generator
    def prime_shelves_page(user: int) -> Any:
        m.prime_books_on_shelves(user)
        yield
        yield  # the shelf rows, primed by the generator called above
        for book in books_on_shelves(user):
            m.prime_rating(book)

    def legacy_page() -> Any:
        prime_shelves_page(1)
        return [m.rating(book) for book in books_on_shelves(1)]

    @asynq()
    def converted_page() -> Any:
        prime_shelves_page(1)
        shelves = yield m.shelf_ids.asynq(1)
        rows = yield [m.shelf_row.asynq(shelf) for shelf in shelves]
        books = [book for row in rows for book in row["books"]]
        return [m.rating(book) for book in books]  # plain reads, left as they were

    legacy = _trips_of(mc, trips, legacy_page)
    get_scheduler().shuffle(order)
    try:
        converted = _trips_of(mc, trips, converted_page)
    finally:
        get_scheduler().shuffle(None)
    assert converted[0] == legacy[0]
    assert len(legacy[1]) == 4  # shelves, shelf rows, ratings and reviews, review rows
    assert len(converted[1]) <= len(legacy[1])
    assert len(converted[2]) <= len(legacy[2])


@pytest.mark.parametrize("order", ORDERS)
def test_the_caller_does_not_run_while_a_stage_of_its_twin_waits_in_a_plain_read(
    mc: MemcacheClient, trips: list[list[str]], order: int | None
) -> None:
    m = _model(mc, "hold")

    @asynq()
    def books_on_shelves(user: int) -> Any:  # converted; the twin's stage still calls it plainly
        shelves = yield m.shelf_ids.asynq(user)
        rows = yield [m.shelf_row.asynq(shelf) for shelf in shelves]
        return [book for row in rows for book in row["books"]]

    @asynq()
    def stars(book: int) -> Any:  # converted; the page below still calls it plainly
        return "*" * (yield m.rating.asynq(book))

    @priming.generator
    def prime_shelves_page(user: int) -> Any:
        m.prime_books_on_shelves(user)
        yield
        for book in books_on_shelves(user):  # a plain read of an asynq function, in a stage
            m.prime_rating(book)

    def legacy_page() -> Any:
        prime_shelves_page(2)
        return [stars(book) for book in books_on_shelves(2)]

    @asynq()
    def converted_page() -> Any:
        prime_shelves_page(2)
        books = yield books_on_shelves.asynq(2)
        return [stars(book) for book in books]  # plain calls, left as they were

    legacy = _trips_of(mc, trips, legacy_page)
    get_scheduler().shuffle(order)
    try:
        converted = _trips_of(mc, trips, converted_page)
    finally:
        get_scheduler().shuffle(None)
    assert converted[0] == legacy[0]
    assert len(legacy[1]) == 4
    assert len(converted[1]) <= len(legacy[1])
    assert len(converted[2]) <= len(legacy[2])


def test_a_key_primed_and_read_in_the_same_round_is_written_back_once_computed(
    mc: MemcacheClient, trips: list[list[str]]
) -> None:
    m = _model(mc, "lease")

    @asynq()
    def page() -> Any:
        m.rating.prime(7)  # priming inside the task, then a read of the same key
        first = yield m.rating.asynq(7)
        return first

    value, cold, warm = _trips_of(mc, trips, page)
    assert value == m.rating(7)
    assert warm == [["lease.rating:7"]]


@pytest.mark.parametrize("order", ORDERS)
def test_tasks_the_caller_started_make_their_plain_reads_after_the_stages_too(
    mc: MemcacheClient, trips: list[list[str]], order: int | None
) -> None:
    m = _model(mc, "children")

    @asynq()
    def books_on_shelves(user: int) -> Any:
        shelves = yield m.shelf_ids.asynq(user)
        rows = yield [m.shelf_row.asynq(shelf) for shelf in shelves]
        return [book for row in rows for book in row["books"]]

    @priming.generator
    def prime_shelves_page(user: int) -> Any:
        m.prime_books_on_shelves(user)
        yield
        for book in books_on_shelves(user):  # a plain read of an asynq function, in a stage
            m.prime_rating(book)

    @asynq()
    def stars_of_shelf(shelf: int) -> Any:  # converted; reads the ratings plainly
        row = yield m.shelf_row.asynq(shelf)
        return ["*" * m.rating(book) for book in row["books"]]

    def legacy_page() -> Any:
        prime_shelves_page(3)
        return [stars_of_shelf(shelf) for shelf in m.shelf_ids(3)]

    @asynq()
    def converted_page() -> Any:
        prime_shelves_page(3)
        shelves = yield m.shelf_ids.asynq(3)
        return (yield [stars_of_shelf.asynq(shelf) for shelf in shelves])

    legacy = _trips_of(mc, trips, legacy_page)
    get_scheduler().shuffle(order)
    try:
        converted = _trips_of(mc, trips, converted_page)
    finally:
        get_scheduler().shuffle(None)
    assert converted[0] == legacy[0]
    assert len(legacy[1]) == 4
    assert len(converted[1]) <= len(legacy[1])
    assert len(converted[2]) <= len(legacy[2])

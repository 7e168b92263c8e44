"""Loops that may stop early: a read right before a ``return`` runs at most once, so it is a
yield where it is; the loop's iterable is read first, with the reads of the statement before
the loop when they do not depend on each other (one round, as the twin primed them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.test_nested_reads import MODELS, OTHERS, rounds_before_and_after


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


FIRST_NEW = """
    from asynq import priming

    from app.models import g, h, prime_g, prime_h


    def first_new(x):
        done = set(g(x))
        for y in g(x + 5):
            if y not in done:
                row = h(y)
                return {"id": y, "n": row["n"]}
        return None


    @priming.generator
    def prime_first_new(x):
        prime_g(x)
        prime_g(x + 5)
        yield
        done = set(g(x))
        for y in g(x + 5):
            if y not in done:
                prime_h(y)
                break
    """


def test_a_read_right_before_a_return_in_a_loop_is_a_yield_where_it_is(assert_codemod):
    assert_codemod(
        FIRST_NEW,
        """
        from asynq import asynq

        from app.models import g, h


        @asynq()
        def first_new(x):
            g_value, g_value_2 = yield g.asynq(x), g.asynq(x + 5)
            done = set(g_value)
            for y in g_value_2:
                if y not in done:
                    row = yield h.asynq(y)
                    return {"id": y, "n": row["n"]}
            return None
        """,
        others=OTHERS,
    )


def test_the_iterable_of_a_loop_is_read_before_it_under_a_name(assert_codemod):
    assert_codemod(
        """
        from app.models import g, prime_g


        def spread(x):
            total = 0
            # every pair
            for y in g(x):
                total += y
            return total


        def prime_spread(x):
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import g


        @asynq()
        def spread(x):
            total = 0
            # every pair
            g_value = yield g.asynq(x)
            for y in g_value:
                total += y
            return total
        """,
        others=OTHERS,
    )


FIND = """
    from asynq import priming

    from app.models import g, h, prime_g, prime_h


    def find(x):
        for y in g(x):
            if h(y)["n"] == 2 * x + 2:
                return y
        return None


    @priming.generator
    def prime_find(x):
        prime_g(x)
        yield
        for y in g(x):
            prime_h(y)
    """


def test_a_search_loop_whose_twin_primes_every_item_reads_every_item_first(assert_codemod):
    assert_codemod(
        FIND,
        """
        from asynq import asynq

        from app.models import g, h


        @asynq()
        def find(x):
            y_items = yield g.asynq(x)
            h_values = yield [h.asynq(y) for y in y_items]
            for y, h_value in zip(y_items, h_values):
                if h_value["n"] == 2 * x + 2:
                    return y
            return None
        """,
        others=OTHERS,
    )


def test_a_search_loop_whose_twin_primes_only_some_items_is_refused(dedent):
    """Reading every item first would read keys the legacy program never read (a miss
    computes), and reading as the loop goes would cost a round trip per item."""
    source = dedent(
        """
        from app.models import h, prime_h


        def first_even(xs):
            for x in xs:
                row = h(x)
                if row["n"] % 4:
                    continue
                return row
            return None


        def prime_first_even(xs):
            for x in xs:
                if x > 2:
                    prime_h(x)
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert [(r.function, r.line) for r in result.refusals] == [("first_even", 6)]
    assert result.refusals[0].reason == (
        "first_even reads h (in app/models.py) inside a `for` loop that may stop early "
        "(`break`, `return`, `raise`), and its twin does not prime that call for every item of "
        "the loop, so reading every item first could read keys the loop never reaches, and "
        "reading as it goes would cost one round trip per item. Prime the call for every item "
        "in the twin, or rewrite the search as a comprehension, then rerun."
    )


@pytest.mark.parametrize("program, name", [(FIRST_NEW, "first_new"), (FIND, "find")])
def test_a_converted_search_loop_costs_no_more_round_trips_than_its_twin(
    server, dedent, program, name
):
    for x in (0, 1, 4):
        before, after = rounds_before_and_after(server.address, dedent, program, name, x)
        assert after == before
        assert [trips for _, trips in after] == [2, 2]  # the twin's two stages

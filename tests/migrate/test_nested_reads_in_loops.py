"""Loops whose body reads inside a comprehension (``sum(f(u) for u in users)``) or guards on a
value computed from reads (``total = len(g(x))``, then ``if not total: continue``): read for
every item before the loop, a list per item for the comprehension, each read only for the
items that pass the guards, and in no more rounds than the twin primes in."""

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


ACTIVITY = """
    from asynq import priming

    from app.models import f, g, h, prime_f, prime_g, prime_h


    def activity(xs):
        out = {}
        for x in xs:
            threads = g(x)
            out[h(x)["n"]] = {"threads": len(threads), "posts": sum(f(t) for t in threads)}
        return out


    @priming.generator
    def prime_activity(xs):
        for x in xs:
            prime_g(x)
            prime_h(x)
        yield
        for x in xs:
            for t in g(x):
                prime_f(t)
    """

RATES = """
    from asynq import priming

    from app.models import f, g, h, prime_f, prime_g, prime_h


    def rates(xs):
        out = {}
        for x in xs:
            total = len(g(x)) - x % 2
            users = g(x + 1)
            if not users or total < 2:
                continue
            done = sum(f(u) % 3 for u in users)
            out[h(x)["id"]] = done * total
        return out


    @priming.generator
    def prime_rates(xs):
        for x in xs:
            prime_g(x)
            prime_g(x + 1)
            prime_h(x)
        yield
        for x in xs:
            for u in g(x + 1):
                prime_f(u)
    """


def test_a_comprehension_in_a_loop_body_is_read_as_a_list_for_every_item(assert_codemod):
    assert_codemod(
        ACTIVITY,
        """
        from asynq import asynq

        from app.models import f, g, h


        @asynq()
        def activity(xs):
            out = {}
            g_values, h_values = yield [g.asynq(x) for x in xs], [h.asynq(x) for x in xs]
            f_lists = yield [[f.asynq(t) for t in threads] for x, threads in zip(xs, g_values)]
            for x, threads, h_value, f_list in zip(xs, g_values, h_values, f_lists):
                out[h_value["n"]] = {
                    "threads": len(threads), "posts": sum(f_value for t, f_value in zip(threads, f_list))
                }
            return out
        """,
        others=OTHERS,
    )


def test_a_guard_on_a_value_computed_from_a_read_computes_it_again_to_filter_later_reads(
    assert_codemod,
):
    assert_codemod(
        RATES,
        """
        from asynq import asynq

        from app.models import f, g, h


        @asynq()
        def rates(xs):
            out = {}
            g_values, g_values_2 = yield [g.asynq(x) for x in xs], [g.asynq(x + 1) for x in xs]
            (
                f_lists,
                h_values,
            ) = yield (
                [
                    None if not users or (len(g_value) - x % 2) < 2 else [f.asynq(u) for u in users]
                    for x, g_value, users in zip(xs, g_values, g_values_2)
                ],
                [
                    None if not users or (len(g_value) - x % 2) < 2 else h.asynq(x)
                    for x, g_value, users in zip(xs, g_values, g_values_2)
                ],
            )
            for x, g_value, users, f_list, h_value in zip(
                xs, g_values, g_values_2, f_lists, h_values
            ):
                total = len(g_value) - x % 2
                if not users or total < 2:
                    continue
                done = sum(f_value % 3 for u, f_value in zip(users, f_list))
                out[h_value["id"]] = done * total
            return out
        """,
        others=OTHERS,
    )


def test_a_guard_on_a_value_read_earlier_makes_the_read_after_it_a_later_stage(
    assert_codemod,
):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def picked(xs):
            total = 0
            for x in xs:
                row = f(x)
                if row % 2:
                    continue
                total += len(g(x))
            return total


        @priming.generator
        def prime_picked(xs):
            for x in xs:
                prime_f(x)
            yield
            for x in xs:
                if not f(x) % 2:
                    prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def picked(xs):
            total = 0
            f_values = yield [f.asynq(x) for x in xs]
            g_values = yield [None if row % 2 else g.asynq(x) for x, row in zip(xs, f_values)]
            for x, row, g_value in zip(xs, f_values, g_values):
                if row % 2:
                    continue
                total += len(g_value)
            return total
        """,
        others=OTHERS,
    )


def test_a_comprehension_over_a_list_the_loop_fills_stays_in_the_loop(dedent):
    source = dedent(
        """
        from app.models import f, prime_f


        def running(xs):
            seen = []
            total = 0
            for x in xs:
                seen.append(x)
                total += sum(f(s) for s in seen)
            return total


        def prime_running(xs):
            for x in xs:
                prime_f(x)
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert [(r.function, r.line) for r in result.refusals] == [("running", 9)]
    assert "inside a `for` loop" in result.refusals[0].reason


@pytest.mark.parametrize("program, name", [(ACTIVITY, "activity"), (RATES, "rates")])
def test_a_converted_loop_with_nested_reads_costs_no_more_round_trips_than_its_twin(
    server, dedent, program, name
):
    before, after = rounds_before_and_after(server.address, dedent, program, name, [0, 2, 3, 7])
    assert [value for value, _ in after] == [value for value, _ in before]
    assert [trips for _, trips in before] == [2, 2]  # the twin's two stages, cold and warm
    assert [trips for _, trips in after] == [2, 2]


def test_a_guard_on_a_value_computed_from_what_the_loop_changes_stays_in_the_loop(dedent):
    source = dedent(
        """
        from app.models import f, g, prime_f, prime_g


        def grow(xs):
            out = []
            for x in xs:
                size = len(out) + f(x)
                if size > 3:
                    continue
                out.append(g(x))
            return out


        def prime_grow(xs):
            for x in xs:
                prime_f(x)
                prime_g(x)
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert [(r.function, r.line) for r in result.refusals] == [("grow", 10)]
    assert "inside a `for` loop" in result.refusals[0].reason


def test_a_comprehension_over_an_iterator_made_in_the_loop_stays_in_the_loop(dedent):
    """``zip(...)`` can be iterated once: reading it ahead would leave nothing for the loop."""
    source = dedent(
        """
        from app.models import f, g, prime_g


        def pairs(xs):
            total = 0
            for x in xs:
                both = zip(g(x), g(x + 1))
                total += sum(f(a) for a, b in both)
            return total


        def prime_pairs(xs):
            for x in xs:
                prime_g(x)
                prime_g(x + 1)
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert [(r.function, r.line) for r in result.refusals] == [("pairs", 8)]
    assert "inside a `for` loop" in result.refusals[0].reason

"""Loops whose reads come in stages: a read that needs a value read earlier in the same
iteration, or that comes after a guard ``if <test>: continue``, is read for every item
before the loop, one batched yield per stage."""

from __future__ import annotations

import pytest

from asynq.migrate import migrate_sources

#: Cached functions used by the tests, in their own module.
MODELS = """
from app.cache import mc


@mc.cached("f")
def f(x):
    return x + 1


prime_f = f.prime


@mc.cached("g")
def g(x):
    return x * 2


prime_g = g.prime
"""
OTHERS = {"app/models.py": MODELS}


@pytest.fixture
def refused(dedent):
    """Migrate ``app/m.py``; check it is left exactly as it was; return the refusals."""

    def check(body):
        source = dedent(body)
        result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
        assert result.code["app/m.py"] == source
        assert migrate_sources(result.code).code == result.code
        return result.refusals

    return check


def test_a_read_that_needs_a_value_read_earlier_in_the_iteration_is_a_second_batched_yield(
    assert_codemod,
):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def scores(xs):
            total = 0
            for x in xs:
                row = f(x)
                total += g(row % 7)
            return total


        @priming.generator
        def prime_scores(xs):
            for x in xs:
                prime_f(x)
            yield
            for x in xs:
                prime_g(f(x) % 7)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def scores(xs):
            total = 0
            f_values = yield [f.asynq(x) for x in xs]
            g_values = yield [g.asynq(row % 7) for x, row in zip(xs, f_values)]
            for x, row, g_value in zip(xs, f_values, g_values):
                total += g_value
            return total
        """,
        others=OTHERS,
    )


def test_a_read_after_a_continue_is_made_only_for_the_items_that_pass_the_guard(
    assert_codemod,
):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def levels(xs):
            by_level = {}
            for x in xs:
                row = f(x)
                if row % 2:
                    continue
                level = g(row + 1)
                by_level[level] = by_level.get(level, 0) + 1
            return by_level


        @priming.generator
        def prime_levels(xs):
            for x in xs:
                prime_f(x)
            yield
            for x in xs:
                if not f(x) % 2:
                    prime_g(f(x) + 1)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def levels(xs):
            by_level = {}
            f_values = yield [f.asynq(x) for x in xs]
            g_values = yield [
                None if row % 2 else g.asynq(row + 1) for x, row in zip(xs, f_values)
            ]
            for x, row, g_value in zip(xs, f_values, g_values):
                if row % 2:
                    continue
                level = g_value
                by_level[level] = by_level.get(level, 0) + 1
            return by_level
        """,
        others=OTHERS,
    )


def test_a_guard_that_needs_only_the_item_filters_the_first_stage(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def total(xs):
            t = 0
            for x in xs:
                if x > 3:
                    continue
                t += f(x)
            return t


        def prime_total(xs):
            for x in xs:
                if x <= 3:
                    prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def total(xs):
            t = 0
            f_values = yield [None if x > 3 else f.asynq(x) for x in xs]
            for x, f_value in zip(xs, f_values):
                if x > 3:
                    continue
                t += f_value
            return t
        """,
        others=OTHERS,
    )


def test_guards_in_a_row_are_joined_and_a_read_in_a_guard_is_read_before_it(assert_codemod):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def picked(xs, skip):
            out = []
            for x in xs:
                if x == skip:
                    continue
                if f(x) > 10:
                    continue
                out.append((x, g(x)))
            return out


        @priming.generator
        def prime_picked(xs, skip):
            for x in xs:
                if x != skip:
                    prime_f(x)
            yield
            for x in xs:
                if x != skip and f(x) <= 10:
                    prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def picked(xs, skip):
            out = []
            f_values = yield [None if x == skip else f.asynq(x) for x in xs]
            g_values = yield [
                None if x == skip or f_value > 10 else g.asynq(x)
                for x, f_value in zip(xs, f_values)
            ]
            for x, f_value, g_value in zip(xs, f_values, g_values):
                if x == skip:
                    continue
                if f_value > 10:
                    continue
                out.append((x, g_value))
            return out
        """,
        others=OTHERS,
    )


def test_a_read_whose_argument_comes_from_a_plain_call_in_the_loop_is_refused(refused):
    refusals = refused(
        """
        from app.models import f, prime_f


        def keyed(xs):
            total = 0
            for x in xs:
                key = make_key(x)
                total += f(key)
            return total


        def make_key(x):
            return x * 3


        def prime_keyed(xs):
            for x in xs:
                prime_f(make_key(x))
        """
    )
    assert [(r.function, r.line) for r in refusals] == [("keyed", 8)]
    assert "inside a `for` loop" in refusals[0].reason


def test_a_value_assigned_twice_in_the_loop_does_not_stage_a_read(refused):
    refusals = refused(
        """
        from app.models import f, g, prime_f


        def twice(xs):
            total = 0
            for x in xs:
                row = f(x)
                total += g(row)
                row = total
            return total


        def prime_twice(xs):
            for x in xs:
                prime_f(x)
        """
    )
    assert [(r.function, r.line) for r in refusals] == [("twice", 8)]


def test_a_guard_on_a_set_the_loop_fills_is_refused(refused):
    refusals = refused(
        """
        from app.models import f, prime_f


        def distinct(xs):
            seen = set()
            total = 0
            for x in xs:
                if x in seen:
                    continue
                seen.add(x)
                total += f(x)
            return total


        def prime_distinct(xs):
            for x in xs:
                prime_f(x)
        """
    )
    assert [(r.function, r.line) for r in refusals] == [("distinct", 11)]
    assert "inside a `for` loop" in refusals[0].reason


def test_stages_that_would_take_more_rounds_than_the_twin_are_refused_with_the_count(refused):
    refusals = refused(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def page(a, xs):
            head = f(a)
            print(head)
            note = [head]
            tail = g(a)
            for x in xs:
                row = f(x)
                note.append(g(row))
            return head, tail, note


        @priming.generator
        def prime_page(a, xs):
            prime_f(a)
            prime_g(a)
            for x in xs:
                prime_f(x)
            yield
            for x in xs:
                prime_g(f(x))
        """
    )
    assert [(r.function, r.line) for r in refusals] == [("page", 13)]
    assert refusals[0].reason == (
        "page reads g (in app/models.py) inside a `for` loop, in a stage after other reads "
        "of the same iteration; converted, page would read in about 3 rounds (yields read one after "
        "another; reads of different statements share a yield only when they do not depend "
        "on each other, nothing between them has an order that matters, and all but the "
        "last take one round even on a cold cache), where its twin primes in 2, so it could "
        "cost more round trips. Put reads that do not depend on each other in one statement "
        "(or next to each other), then rerun."
    )


def test_a_guard_that_reads_the_function_the_loop_reads_after_it_is_staged(assert_codemod):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, prime_f


        def fresh(xs, base):
            total = 0
            for x in xs:
                if f(x) % 5:
                    continue
                total += f(x + base)
            return total


        @priming.generator
        def prime_fresh(xs, base):
            for x in xs:
                prime_f(x)
            yield
            for x in xs:
                if not f(x) % 5:
                    prime_f(x + base)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def fresh(xs, base):
            total = 0
            f_values = yield [f.asynq(x) for x in xs]
            f_values_2 = yield [
                None if f_value % 5 else f.asynq(x + base) for x, f_value in zip(xs, f_values)
            ]
            for x, f_value, f_value_2 in zip(xs, f_values, f_values_2):
                if f_value % 5:
                    continue
                total += f_value_2
            return total
        """,
        others=OTHERS,
    )


def test_a_helper_without_a_twin_is_not_read_in_stages(dedent):
    """A helper has no twin whose rounds its stages could be held to: its loop stays as it
    is (and the helper stays a plain function)."""
    helper = dedent(
        """
        def helper(xs):
            total = 0
            for x in xs:
                row = f(x)
                total += g(row)
            return total
        """
    )
    source = "from app.models import f, g, prime_f\n\n\n" + helper + dedent(
        """


        def page(xs):
            return helper(xs) + f(0)


        def prime_page(xs):
            prime_f(0)
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert helper in result.code["app/m.py"]
    assert ("app/m.py", "helper") not in result.converted

"""Comprehensions with two ``for`` clauses whose inner clause, conditions or element read:
read in stages, one batched yield per read, over the items of the first clause that pass
its conditions, then over the pairs."""

from __future__ import annotations

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
    return [x, x + 1]


prime_g = g.prime
"""
OTHERS = {"app/models.py": MODELS}


def test_an_inner_clause_that_reads_and_a_condition_that_reads_are_read_in_stages(
    assert_codemod,
):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def ids(xs):
            return sorted({b for a in xs for b in g(a) if f(b) % 3})


        @priming.generator
        def prime_ids(xs):
            for a in xs:
                prime_g(a)
            yield
            for a in xs:
                for b in g(a):
                    prime_f(b)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def ids(xs):
            b_lists = yield [g.asynq(a) for a in xs]
            a_b_pairs = [(a, b) for a, b_list in zip(xs, b_lists) for b in b_list]
            f_values = yield [f.asynq(b) for a, b in a_b_pairs]
            return sorted({b for (a, b), f_value in zip(a_b_pairs, f_values) if f_value % 3})
        """,
        others=OTHERS,
    )


def test_the_first_clause_is_filtered_first_and_the_element_read_for_every_pair(
    assert_codemod,
):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def rows(xs):
            return [f(b) for a in xs if a > 2 for b in g(a)]


        @priming.generator
        def prime_rows(xs):
            for a in xs:
                if a > 2:
                    prime_g(a)
            yield
            for a in xs:
                if a > 2:
                    for b in g(a):
                        prime_f(b)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def rows(xs):
            a_items = [a for a in xs if a > 2]
            b_lists = yield [g.asynq(a) for a in a_items]
            a_b_pairs = [(a, b) for a, b_list in zip(a_items, b_lists) for b in b_list]
            return (yield [f.asynq(b) for a, b in a_b_pairs])
        """,
        others=OTHERS,
    )


def test_a_read_only_in_the_first_clause_iterable_stays_one_comprehension(assert_codemod):
    assert_codemod(
        """
        from app.models import g, prime_g


        def flat(x):
            return [b for a in g(x) for b in range(a)]


        def prime_flat(x):
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import g


        @asynq()
        def flat(x):
            g_value = yield g.asynq(x)
            return [b for a in g_value for b in range(a)]
        """,
        others=OTHERS,
    )


def test_stages_that_would_take_more_rounds_than_the_twin_are_refused_with_the_count(dedent):
    source = dedent(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def rows(xs):
            return [f(b) for a in xs if f(a) % 2 for b in g(a)]


        @priming.generator
        def prime_rows(xs):
            for a in xs:
                prime_f(a)
                prime_g(a)
            yield
            for a in xs:
                if f(a) % 2:
                    for b in g(a):
                        prime_f(b)
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert {(r.function, r.line) for r in result.refusals} == {("rows", 7)}
    assert result.refusals[0].reason.endswith(
        "in a comprehension read in stages (two `for` clauses, a condition and an element "
        "that both read, or an element whose read needs another read); converted, rows would read in about 3 rounds (yields read one after "
        "another; reads of different statements share a yield only when they do not depend "
        "on each other, nothing between them has an order that matters, and all but the "
        "last take one round even on a cold cache), where its twin primes in 2, so it could "
        "cost more round trips. Put reads that do not depend on each other in one statement "
        "(or next to each other), then rerun."
    )


def test_a_consumed_generator_whose_first_condition_reads_takes_three_stages(assert_codemod):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def total(xs):
            return sum(f(b) for a in xs if f(a) % 2 for b in range(g(a)[0] % 3))


        @priming.generator
        def prime_total(xs):
            for a in xs:
                prime_f(a)
            yield
            for a in xs:
                if f(a) % 2:
                    prime_g(a)
            yield
            for a in xs:
                if f(a) % 2:
                    for b in range(g(a)[0] % 3):
                        prime_f(b)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def total(xs):
            f_values = yield [f.asynq(a) for a in xs]
            a_items = [a for a, f_value in zip(xs, f_values) if f_value % 2]
            g_values = yield [g.asynq(a) for a in a_items]
            b_lists = [range(g_value[0] % 3) for a, g_value in zip(a_items, g_values)]
            a_b_pairs = [(a, b) for a, b_list in zip(a_items, b_lists) for b in b_list]
            f_values_2 = yield [f.asynq(b) for a, b in a_b_pairs]
            return sum(f_values_2)
        """,
        others=OTHERS,
    )


def test_a_comprehension_read_in_stages_cannot_sit_in_an_if_test_or_a_loop_header(dedent):
    """No line can go before an ``if`` test or a ``for`` header, and a yield inside a
    comprehension or generator does not compile: such a read leaves its function as it is."""
    source = dedent(
        """
        from app.models import f, prime_f


        def h(xs):
            if any(len(f(x)) > 1 for x in xs):
                return 1
            for y in [f(b) + 1 for a in xs for b in range(a)]:
                return y
            return 0


        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert [(r.function, r.line) for r in result.refusals] == [("h", 5), ("h", 7)]
    assert all("in a comprehension's condition" in r.reason for r in result.refusals)


def test_a_condition_and_an_element_that_both_read_filter_first_then_read(assert_codemod):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def queue(xs):
            return [
                {"id": x, "first": g(x)[0], "second": g(x)[1]}
                for x in xs
                if f(x) % 3
            ]


        @priming.generator
        def prime_queue(xs):
            for x in xs:
                prime_f(x)
            yield
            for x in xs:
                if f(x) % 3:
                    prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def queue(xs):
            f_values = yield [f.asynq(x) for x in xs]
            x_items = [x for x, f_value in zip(xs, f_values) if f_value % 3]
            g_values = yield [g.asynq(x) for x in x_items]
            return [
                {"id": x, "first": g_value[0], "second": g_value[1]}
                for x, g_value in zip(x_items, g_values)
            ]
        """,
        others=OTHERS,
    )

"""Reads nested in larger expressions: a comprehension over pairs whose element reads, and an
element whose read needs another read of the same element (``g(h(x)["id"])``), read in stages,
one batched yield per stage, and never in more rounds than the twin primes in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import run

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


@mc.cached("h")
def h(x):
    return {"id": x % 7, "n": x * 2}


prime_h = h.prime
"""
OTHERS = {"app/models.py": MODELS}


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


def rounds_before_and_after(address: str, dedent, logic: str, name: str, xs: list[int]):
    """Run ``name(xs)`` primed by its twin in the legacy program, and the converted ``name``
    called directly after the migration (no priming at all): (output, round trips) cold and
    warm, before and after."""
    base = dedent(MODELS).replace("from app.cache import mc", "from nrcache import mc")
    logic = dedent(logic).replace("from app.models import", "from nrbase import")
    result = migrate_sources({"nr/nrbase.py": base, "nr/nrlogic.py": logic})
    assert ("nr/nrlogic.py", name) in result.converted, result.refusals
    legacy = logic + f"\n\ndef main(xs):\n    prime_{name}(xs)\n    return {name}(xs)\n"
    migrated = result.code["nr/nrlogic.py"] + f"\n\ndef main(xs):\n    return {name}(xs)\n"
    before = run(address, base, legacy, xs, "nr")
    after = run(address, result.code["nr/nrbase.py"], migrated, xs, "nr")
    return before, after


def test_a_comprehension_over_pairs_reads_its_element_for_every_pair_first(assert_codemod):
    assert_codemod(
        """
        from app.models import f, h, prime_f, prime_h


        def labels(pairs):
            return [f"{f(a)} {h(b)['n']}" for a, b in pairs]


        def prime_labels(pairs):
            for a, b in pairs:
                prime_f(a)
                prime_h(b)
        """,
        """
        from asynq import asynq

        from app.models import f, h


        @asynq()
        def labels(pairs):
            f_values, h_values = yield (
                [f.asynq(a) for a, b in pairs],
                [h.asynq(b) for a, b in pairs],
            )
            return [
                f"{f_value} {h_value['n']}"
                for (a, b), f_value, h_value in zip(pairs, f_values, h_values)
            ]
        """,
        others=OTHERS,
    )


def test_a_read_whose_argument_is_read_in_the_same_element_is_read_one_stage_later(
    assert_codemod,
):
    assert_codemod(
        """
        from asynq import priming

        from app.models import g, h, prime_g, prime_h


        def groups(xs):
            return [g(h(x)["id"]) for x in xs]


        @priming.generator
        def prime_groups(xs):
            for x in xs:
                prime_h(x)
            yield
            for x in xs:
                prime_g(h(x)["id"])
        """,
        """
        from asynq import asynq

        from app.models import g, h


        @asynq()
        def groups(xs):
            h_values = yield [h.asynq(x) for x in xs]
            return (yield [g.asynq(h_value["id"]) for x, h_value in zip(xs, h_values)])
        """,
        others=OTHERS,
    )


def test_reads_of_the_element_that_need_no_other_read_join_the_first_stage(assert_codemod):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, h, prime_f, prime_g, prime_h


        def cards(xs, low):
            return [{"n": f(x), "who": g(h(x)["id"])} for x in xs if x > low]


        @priming.generator
        def prime_cards(xs, low):
            for x in xs:
                if x > low:
                    prime_f(x)
                    prime_h(x)
            yield
            for x in xs:
                if x > low:
                    prime_g(h(x)["id"])
        """,
        """
        from asynq import asynq

        from app.models import f, g, h


        @asynq()
        def cards(xs, low):
            x_items = [x for x in xs if x > low]
            f_values, h_values = yield (
                [f.asynq(x) for x in x_items],
                [h.asynq(x) for x in x_items],
            )
            g_values = yield [
                g.asynq(h_value["id"])
                for x, f_value, h_value in zip(x_items, f_values, h_values)
            ]
            return [
                {"n": f_value, "who": g_value}
                for x, f_value, h_value, g_value in zip(x_items, f_values, h_values, g_values)
            ]
        """,
        others=OTHERS,
    )


def test_an_element_read_in_more_stages_than_its_twin_primes_in_is_refused_with_the_count(
    dedent,
):
    source = dedent(
        """
        from app.models import g, h, prime_g, prime_h


        def groups(xs):
            return [g(h(x)["id"]) for x in xs]


        def prime_groups(xs):
            for x in xs:
                prime_h(x)
                prime_g(x)
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert [(r.function, r.line) for r in result.refusals] == [("groups", 5), ("groups", 5)]
    assert result.refusals[0].reason == (
        "groups reads g (in app/models.py) in a comprehension read in stages (two `for` "
        "clauses, a condition and an element that both read, or an element whose read needs "
        "another read); converted, groups would read in about 2 rounds (yields read one "
        "after another; reads of different statements share a yield only when they do not "
        "depend on each other, nothing between them has an order that matters, and all but "
        "the last take one round even on a cold cache), where its twin primes in 1, so it "
        "could cost more round trips. Put reads that do not depend on each other in one "
        "statement (or next to each other), then rerun."
    )


def test_a_converted_element_read_in_stages_costs_no_more_round_trips_than_its_twin(
    server, dedent
):
    logic = """
        from asynq import priming

        from app.models import f, g, h, prime_f, prime_g, prime_h


        def cards(xs):
            return [(f(x), g(h(x)["id"])) for x in xs if x % 3]


        @priming.generator
        def prime_cards(xs):
            for x in xs:
                if x % 3:
                    prime_f(x)
                    prime_h(x)
            yield
            for x in xs:
                if x % 3:
                    prime_g(h(x)["id"])
        """
    before, after = rounds_before_and_after(server.address, dedent, logic, "cards", [1, 2, 4, 9])
    assert [value for value, _ in after] == [value for value, _ in before]
    assert [trips for _, trips in before] == [2, 2]  # the twin's two stages, cold and warm
    assert [trips for _, trips in after] == [2, 2]


def test_the_count_of_rounds_includes_the_read_a_comprehension_iterates(dedent):
    """``[h(x) for x in g(y)]`` takes two rounds (``g``, then ``h`` for its items): with the
    element read in two stages after it, four rounds, one more than this twin primes in."""
    source = dedent(
        """
        from asynq import priming

        from app.models import f, g, h, prime_f, prime_g, prime_h


        def listing(y):
            rows = [h(x) for x in g(y)]
            return [f(h(row["n"])["id"]) for row in rows]


        @priming.generator
        def prime_listing(y):
            prime_g(y)
            yield
            for x in g(y):
                prime_h(x)
                prime_h(h(x)["n"])
            yield
            for x in g(y):
                prime_f(h(h(x)["n"])["id"])
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert {r.function for r in result.refusals} == {"listing"}
    assert "would read in about 4 rounds (yields read one after another;" in (
        result.refusals[0].reason
    )
    assert "cold cache), where its twin primes in 3, so it" in result.refusals[0].reason

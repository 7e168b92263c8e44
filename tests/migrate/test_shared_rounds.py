"""Reads of different statements that do not depend on each other share one yield when
nothing between them has an order that matters; a function read in stages is held to its
twin's rounds with those shared rounds counted."""

from __future__ import annotations

import libcst as cst

from asynq.migrate import migrate_sources
from asynq.migrate._resolve import shared_rounds
from asynq.migrate._share import local_containers, statement_facts

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

SEPARATE = """
from asynq import asynq

from app.models import f, g


@asynq()
def page(a, b):
    x = yield f.asynq(a)
    {between}
    y = yield g.asynq(b)
    return x + y
"""


def separate(between: str) -> str:
    return SEPARATE.format(between=between)


def legacy(between: str) -> str:
    return f"""
        from app.models import f, g, prime_f, prime_g


        def page(a, b):
            x = f(a)
            {between}
            y = g(b)
            return x + y


        def prime_page(a, b):
            prime_f(a)
            prime_g(b)
        """


def test_reads_of_two_statements_with_harmless_statements_between_share_one_yield(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def page(a, b):
            x = f(a)
            total = len(str(x)) + 1
            seen = {}
            seen[x] = total
            y = g(b)
            return {"x": x, "y": y, "seen": seen}


        def prime_page(a, b):
            prime_f(a)
            prime_g(b)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def page(a, b):
            x, y = yield f.asynq(a), g.asynq(b)
            total = len(str(x)) + 1
            seen = {}
            seen[x] = total
            return {"x": x, "y": y, "seen": seen}
        """,
        others=OTHERS,
    )


def test_a_plain_call_between_two_reads_keeps_them_in_separate_yields(assert_codemod, dedent):
    assert_codemod(legacy("print(x)"), dedent(separate("print(x)")), others=OTHERS)


def test_an_attribute_write_between_two_reads_keeps_them_in_separate_yields(assert_codemod, dedent):
    assert_codemod(legacy("a.last = x"), dedent(separate("a.last = x")), others=OTHERS)


def test_a_write_into_a_container_the_function_did_not_build_keeps_reads_apart(
    assert_codemod, dedent
):
    assert_codemod(legacy("a[0] = x"), dedent(separate("a[0] = x")), others=OTHERS)


def test_a_read_that_needs_a_value_computed_between_waits_for_it(assert_codemod, dedent):
    before = legacy("b = x * 2")
    after = separate("b = x * 2")
    assert_codemod(before, dedent(after), others=OTHERS)


def test_a_read_does_not_move_above_a_statement_that_uses_the_name_it_assigns(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def page(a, b, y):
            x = f(a)
            old = y
            y = g(b)
            return x, old, y


        def prime_page(a, b, y):
            prime_f(a)
            prime_g(b)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def page(a, b, y):
            x = yield f.asynq(a)
            old = y
            y = yield g.asynq(b)
            return x, old, y
        """,
        others=OTHERS,
    )


def test_the_stages_of_a_loop_join_the_yields_of_independent_statements_before_it(
    assert_codemod,
):
    result = assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def page(a, xs):
            head = f(a)
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
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def page(a, xs):
            head, tail, f_values = yield f.asynq(a), g.asynq(a), [f.asynq(x) for x in xs]
            note = [head]
            g_values = yield [g.asynq(row) for x, row in zip(xs, f_values)]
            for x, row, g_value in zip(xs, f_values, g_values):
                note.append(g_value)
            return head, tail, note
        """,
        others=OTHERS,
    )
    assert result.refusals == []


def test_a_loop_read_in_stages_behind_an_attribute_write_is_still_refused_with_the_count(
    dedent,
):
    source = dedent(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def page(a, xs, out):
            head = f(a)
            out.head = head
            total = 0
            for x in xs:
                row = f(x)
                total += g(row)
            return total


        @priming.generator
        def prime_page(a, xs, out):
            prime_f(a)
            for x in xs:
                prime_f(x)
            yield
            for x in xs:
                prime_g(f(x))
        """
    )
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS)})
    assert result.code["app/m.py"] == source
    assert [(r.function, r.line) for r in result.refusals] == [("page", 12)]
    assert "would read in about 3 rounds" in result.refusals[0].reason
    assert "where its twin primes in 2" in result.refusals[0].reason


def facts_of(body: str, dedent) -> list:
    fn = cst.parse_module(dedent(body)).body[0]
    assert isinstance(fn, cst.FunctionDef) and isinstance(fn.body, cst.IndentedBlock)
    containers = local_containers(list(fn.body.body))
    return [statement_facts(stmt, containers) for stmt in fn.body.body]


def test_independent_statements_are_counted_in_the_same_rounds(dedent):
    statements = facts_of(
        """
        def page(a, xs):
            head = f(a)
            rows = [g(x) for x in xs]
            return head, rows
        """,
        dedent,
    )
    assert shared_rounds(statements, {0: 1, 1: 1}, {0: 1, 1: 1}) == 1


def test_a_plain_call_makes_the_reads_after_it_start_in_a_later_round(dedent):
    statements = facts_of(
        """
        def page(a, xs):
            head = f(a)
            log(head)
            rows = [g(x) for x in xs]
            return head, rows
        """,
        dedent,
    )
    assert shared_rounds(statements, {0: 1, 2: 1}, {0: 1, 2: 1}) == 2


def test_a_read_nested_in_another_read_counts_two_rounds(dedent):
    statements = facts_of(
        """
        def page(a):
            return [g(r) for r in f(a)]
        """,
        dedent,
    )
    assert statements[0].chain == 2
    assert shared_rounds(statements, {0: 1}, {0: 2}) == 2


def test_without_statement_facts_every_statement_waits_for_the_one_before():
    assert shared_rounds([], {0: 1, 1: 2}, {0: 1, 1: 2}) == 3


def test_a_guard_that_leaves_the_loop_keeps_the_reads_after_it_in_the_iteration(dedent):
    statements = facts_of(
        """
        def page(x):
            if x:
                continue
            y = g(x)
        """,
        dedent,
    )
    assert statements[0].opaque


def test_a_continue_inside_a_loop_of_the_statement_does_not_keep_reads_apart(dedent):
    statements = facts_of(
        """
        def page(xs):
            for x in xs:
                if x:
                    continue
        """,
        dedent,
    )
    assert not statements[0].opaque


BASE = """
from srcache import mc


@mc.cached("sr_f")
def f(x):
    return x + 1


prime_f = f.prime


@mc.cached("sr_g")
def g(x):
    return x * 2


prime_g = g.prime
"""

LOGIC = """
from srbase import f, g, prime_f, prime_g


def page(a, b):
    x = f(a)
    seen = {}
    seen[x] = len(str(x))
    y = g(b)
    return {"x": x, "y": y, "seen": seen}


def prime_page(a, b):
    prime_f(a)
    prime_g(b)


def main(a, b):
    prime_page(a, b)
    return page(a, b)
"""


def run_program(
    address: str, base_src: str, logic_src: str, entry: str = "main"
) -> list[tuple[object, int]]:
    """Import the program under a fresh key prefix and call ``entry`` cold, then warm:
    (output, read round trips) per call."""
    import sys
    import types
    import uuid

    from asynq import priming
    from asynq.memcache import MemcacheClient

    client = MemcacheClient(address, key_prefix=f"sr{uuid.uuid4().hex[:12]}:")
    trips: list[object] = []
    client.on_round_trip.subscribe(trips.append)
    cache = types.ModuleType("srcache")
    cache.mc = client  # type: ignore[attr-defined]
    base, logic = types.ModuleType("srbase"), types.ModuleType("srlogic")
    modules = {"srcache": cache, "srbase": base, "srlogic": logic}
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    out: list[tuple[object, int]] = []
    try:
        exec(compile(base_src, "sr/srbase.py", "exec"), base.__dict__)  # noqa: S102
        exec(compile(logic_src, "sr/srlogic.py", "exec"), logic.__dict__)  # noqa: S102
        for _ in ("cold", "warm"):
            trips.clear()
            with client.request():
                value = getattr(logic, entry)(3, 4)
            priming.end_request()
            out.append((value, len(trips)))
    finally:
        client.close()
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return out


def test_reads_sharing_a_yield_return_the_same_values_in_one_round_trip_on_memcached():
    from asynq.memcache.server import MemcachedServer

    migrated = migrate_sources({"sr/srbase.py": BASE, "sr/srlogic.py": LOGIC})
    logic = migrated.code["sr/srlogic.py"]
    assert "x, y = yield f.asynq(a), g.asynq(b)" in logic
    with MemcachedServer() as server:
        before = run_program(server.address, BASE, LOGIC)
        # the converted page on its own, with no priming before it
        after = run_program(server.address, migrated.code["sr/srbase.py"], logic, "page")
    assert [value for value, _ in after] == [value for value, _ in before]
    assert [trips for _, trips in before] == [1, 1]
    assert [trips for _, trips in after] == [1, 1]


#: ``h`` computes a miss by reading ``f``: on a cold cache it takes more than one round.
MODELS_WITH_H = (
    MODELS
    + """

@mc.cached("h")
def h(x):
    return f(x) + 1


prime_h = h.prime


@mc.cached("k")
def k(x):
    return x - 1


prime_k = k.prime
"""
)
OTHERS_WITH_H = {"app/models.py": MODELS_WITH_H}

ONE_MORE_READ = """
from asynq import priming

from app.models import f, g, {third}, prime_f, prime_g, prime_{third}


def page(a, b):
    x = f(a)
    y = g(x)
    z = {third}(b)
    return x, y, z


@priming.generator
def prime_page(a, b):
    prime_f(a)
    prime_{third}(b)
    yield
    prime_g(f(a))
"""


def test_a_read_whose_miss_reads_more_joins_only_the_last_yield_before_it(assert_codemod):
    # joined to ``x``'s yield, ``h``'s miss would hold back ``g(x)`` on a cold cache
    assert_codemod(
        ONE_MORE_READ.format(third="h"),
        """
        from asynq import asynq

        from app.models import f, g, h


        @asynq()
        def page(a, b):
            x = yield f.asynq(a)
            y, z = yield g.asynq(x), h.asynq(b)
            return x, y, z
        """,
        others=OTHERS_WITH_H,
    )


def test_a_read_that_takes_one_round_even_cold_joins_the_earliest_yield_it_can(assert_codemod):
    assert_codemod(
        ONE_MORE_READ.format(third="k"),
        """
        from asynq import asynq

        from app.models import f, g, k


        @asynq()
        def page(a, b):
            x, z = yield f.asynq(a), k.asynq(b)
            y = yield g.asynq(x)
            return x, y, z
        """,
        others=OTHERS_WITH_H,
    )


def test_a_reused_read_renames_variables_only_not_keywords_or_attributes(assert_codemod):
    # ``again`` reads what ``first`` read: it becomes ``first``, but the keyword ``again=``
    # (and any ``obj.again``) is another name and stays.
    assert_codemod(
        """
        from app.models import f, prime_f


        def view(x):
            first = f(x)
            again = f(x)
            return dict(first=first, again=again), x.again if x else None


        def prime_view(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def view(x):
            first = yield f.asynq(x)
            return dict(first=first, again=first), x.again if x else None
        """,
        others=OTHERS,
    )


def test_a_read_of_what_an_earlier_statement_read_is_fetched_once_and_reused(assert_codemod):
    result = assert_codemod(
        """
        from asynq import priming

        from app.models import f, g, prime_f, prime_g


        def page(xs):
            big = [x for x in xs if f(x) > 2]
            total = 0
            for x in xs:
                row = f(x)
                total += g(row)
            return big, total


        @priming.generator
        def prime_page(xs):
            for x in xs:
                prime_f(x)
            yield
            for x in xs:
                prime_g(f(x))
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def page(xs):
            f_values = yield [f.asynq(x) for x in xs]
            big = [x for x, f_value in zip(xs, f_values) if f_value > 2]
            total = 0
            g_values = yield [g.asynq(row) for x, row in zip(xs, f_values)]
            for x, row, g_value in zip(xs, f_values, g_values):
                total += g_value
            return big, total
        """,
        others=OTHERS,
    )
    assert result.refusals == []


def test_a_plain_call_between_two_reads_of_the_same_key_keeps_both_reads(assert_codemod, dedent):
    # the call may write the key (``f.dirty(a)``, a database write and a refresh)
    assert_codemod(
        """
        from app.models import f, prime_f


        def page(a):
            x = f(a)
            refresh(a)
            y = f(a)
            return x, y


        def prime_page(a):
            prime_f(a)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def page(a):
            x = yield f.asynq(a)
            refresh(a)
            y = yield f.asynq(a)
            return x, y
        """,
        others=OTHERS,
    )


def test_a_name_the_function_changes_is_read_again_rather_than_shared(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def page(a):
            x = f(a)
            y = f(a)
            y.append(1)
            return x, y


        def prime_page(a):
            prime_f(a)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def page(a):
            x, y = yield f.asynq(a), f.asynq(a)
            y.append(1)
            return x, y
        """,
        others=OTHERS,
    )


BASE_WITH_H = (
    BASE
    + """

@mc.cached("sr_h")
def h(x):
    return f(x + 100) + 1


prime_h = h.prime
"""
)

LOGIC_WITH_H = """
from asynq import priming

from srbase import f, g, h, prime_f, prime_g, prime_h


def page(a, b):
    x = f(a)
    y = g(x)
    z = h(b)
    return x, y, z


@priming.generator
def prime_page(a, b):
    prime_f(a)
    prime_h(b)
    yield
    prime_g(f(a))


def main(a, b):
    prime_page(a, b)
    return page(a, b)
"""


def test_a_read_whose_miss_reads_more_costs_no_round_trip_cold_once_converted_on_memcached():
    from asynq.memcache.server import MemcachedServer

    migrated = migrate_sources({"sr/srbase.py": BASE_WITH_H, "sr/srlogic.py": LOGIC_WITH_H})
    logic = migrated.code["sr/srlogic.py"]
    assert "y, z = yield g.asynq(x), h.asynq(b)" in logic
    with MemcachedServer() as server:
        before = run_program(server.address, BASE_WITH_H, LOGIC_WITH_H)
        after = run_program(server.address, migrated.code["sr/srbase.py"], logic, "page")
    assert [value for value, _ in after] == [value for value, _ in before]
    assert [trips for _, trips in before] == [3, 2]
    assert [trips for _, trips in after] == [3, 2]


def test_yields_are_counted_one_after_another_so_a_read_that_needs_a_value_waits_for_the_whole_yield(
    dedent,
):
    statements = facts_of(
        """
        def page(a):
            x = f(a)
            rows = [g(y) for y in k(a)]
            z = g(x)
            return x, rows, z
        """,
        dedent,
    )
    # ``rows`` joins the yield of ``x``, which then takes two rounds; ``z`` comes after it
    counted = shared_rounds(statements, {0: 1, 1: 1, 2: 1}, {0: 1, 1: 2, 2: 1}, {0: True, 2: True})
    assert counted == 3


LOOP_THEN_ONE_MORE_READ = """
from asynq import priming

from app.models import f, g, h, prime_f, prime_g


def page(xs):
    total = 0
    for x in xs:
        row = f(x)
        total += g(row)
    return {last}


@priming.generator
def prime_page(xs):
    for x in xs:
        prime_f(x)
    yield
    for x in xs:
        prime_g(f(x))
"""


def test_a_read_the_twin_does_not_prime_counts_a_round_of_the_original_too(assert_codemod):
    # ``h(total)`` is a plain call in the original, one round trip after the twin's two
    result = assert_codemod(
        LOOP_THEN_ONE_MORE_READ.format(last="total + h(total)"),
        """
        from asynq import asynq

        from app.models import f, g, h


        @asynq()
        def page(xs):
            total = 0
            f_values = yield [f.asynq(x) for x in xs]
            g_values = yield [g.asynq(row) for x, row in zip(xs, f_values)]
            for x, row, g_value in zip(xs, f_values, g_values):
                total += g_value
            h_value = yield h.asynq(total)
            return total + h_value
        """,
        others=OTHERS_WITH_H,
    )
    assert result.refusals == []


def test_a_function_that_would_read_in_more_rounds_than_the_original_is_refused_with_both_counts(
    dedent,
):
    source = dedent(LOOP_THEN_ONE_MORE_READ.format(last="h(g(total))"))
    result = migrate_sources({"app/m.py": source, "app/models.py": dedent(MODELS_WITH_H)})
    assert result.code["app/m.py"] == source
    assert [(r.function, r.line) for r in result.refusals] == [("page", 10)]
    assert result.refusals[0].reason == (
        "page reads g (in app/models.py) inside a `for` loop, in a stage after other reads "
        "of the same iteration; converted, page would read in about 4 rounds (yields read one "
        "after another; reads of different statements share a yield only when they do not "
        "depend on each other, nothing between them has an order that matters, and all but "
        "the last take one round even on a cold cache), where the original reads in about 3 "
        "(its twin primes in 2, and 1 read it does not prime cost a round trip as plain "
        "calls), so it could cost more round trips. Put reads that do not depend on each "
        "other in one statement (or next to each other), then rerun."
    )

"""Property test against a real memcached: random priming programs whose loops read in stages
(a read that needs a value read earlier in the iteration, reads after guards
``if ...: continue``, reads before the loop) and their migrations return the same outputs,
and the migration costs no more round trips per request, cold or warm."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import assert_migrated_no_worse


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, str]:
    """A base module of cached functions ``c0..`` and a logic module of functions ``h0..``
    whose loops read in stages, each with a hand-written twin, and a view ``main`` that
    primes some of them and reads them all."""
    n_cached = draw(st.integers(2, 3))
    base = ["from stcache import mc", ""]
    for i in range(n_cached):
        k, b = draw(st.integers(2, 9)), draw(st.integers(0, 9))
        base += [
            f'@mc.cached("c{i}")',
            f"def c{i}(x):",
            f"    return (x * {k} + {b}) % 17",
            "",
            f"prime_c{i} = c{i}.prime",
            "",
        ]
    imported = ", ".join(f"c{i}, prime_c{i}" for i in range(n_cached))
    logic = ["from asynq import priming", f"from stbase import {imported}", ""]
    cached = [(f"c{i}", f"prime_c{i}") for i in range(n_cached)]
    composites = []
    searches: set[str] = set()
    for j in range(draw(st.integers(1, 3))):
        (a, pa), (b, pb), (c, pc) = (draw(st.sampled_from(cached)) for _ in range(3))
        m, n = draw(st.integers(2, 5)), draw(st.integers(0, 3))
        shape = draw(
            st.sampled_from(
                [
                    "stage",
                    "guard",
                    "item",
                    "guards",
                    "three",
                    "head",
                    "comp",
                    "compif",
                    "compcond",
                    "filter",
                    "loopcomp",
                    "search",
                    "nested",
                ]
            )
        )
        body = ["total = 0", f"for y in range(x % {m + 3}):"]
        if shape == "stage":  # the second read needs the first
            body += [f"    row = {a}(y)", f"    total += {b}(row % {m}) * 3 + row"]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    {pb}({a}(y) % {m})",
            ]
        elif shape == "guard":  # a read after a guard on the first value
            body += [
                f"    row = {a}(y)",
                f"    if row % {m} == {n}:",
                "        continue",
                f"    total += {b}(row + 1) - y",
            ]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    if {a}(y) % {m} != {n}:",
                f"        {pb}({a}(y) + 1)",
            ]
        elif shape == "item":  # a guard on the item only
            body += [f"    if y % {m} == {n}:", "        continue", f"    total += {a}(y)"]
            twin = [f"for y in range(x % {m + 3}):", f"    if y % {m} != {n}:", f"        {pa}(y)"]
        elif shape == "guards":  # two guards, the second reads
            body += [
                f"    if y == {n}:",
                "        continue",
                f"    if {a}(y) % {m}:",
                "        continue",
                f"    total += {b}(y + x)",
            ]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    if y != {n}:",
                f"        {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    if y != {n} and not {a}(y) % {m}:",
                f"        {pb}(y + x)",
            ]
        elif shape == "three":  # three stages
            body += [
                f"    row = {a}(y)",
                f"    mid = {b}(row)",
                f"    total += {c}(mid + row) + mid",
            ]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    {pb}({a}(y))",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    {pc}({b}({a}(y)) + {a}(y))",
            ]
        elif shape == "comp":  # a comprehension whose inner clause and element read
            body = [
                f"total = sum([{b}(z) for y in range(x % {m + 3}) for z in range({a}(y) % 4)])",
            ]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    for z in range({a}(y) % 4):",
                f"        {pb}(z)",
            ]
        elif shape == "compif":  # a plain first condition, a condition that reads
            body = [
                f"total = len({{(y, z) for y in range(x % {m + 3}) if y != {n}"
                f" for z in range(y % 3) if {a}(z + y) % 2}})",
            ]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    if y != {n}:",
                "        for z in range(y % 3):",
                f"            {pa}(z + y)",
            ]
        elif shape == "compcond":  # the first condition reads: three stages
            body = [
                f"total = sum({c}(z) for y in range(x % {m + 3}) if {a}(y) % 2"
                f" for z in range({b}(y) % 3))",
            ]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    if {a}(y) % 2:",
                f"        {pb}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    if {a}(y) % 2:",
                f"        for z in range({b}(y) % 3):",
                f"            {pc}(z)",
            ]
        elif shape == "filter":  # a condition and an element that both read
            body = [
                f"total = sum([{b}(y) * 2 + {b}(y + 1) for y in range(x % {m + 3}) if {a}(y) % 2])",
            ]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    if {a}(y) % 2:",
                f"        {pb}(y)",
                f"        {pb}(y + 1)",
            ]
        elif shape == "loopcomp":  # a guard on a computed value, a read in a comprehension
            body += [
                f"    size = {a}(y) % {m}",
                f"    if size == {n}:",
                "        continue",
                f"    total += sum({b}(z + y) for z in range(size))",
            ]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    if {a}(y) % {m} != {n}:",
                f"        for z in range({a}(y) % {m}):",
                f"            {pb}(z + y)",
            ]
        elif shape == "search":  # a loop that stops at the first match
            body += [f"    if {a}(y) % {m} == {n}:", "        total = y + 1", "        break"]
            twin = [f"for y in range(x % {m + 3}):", f"    {pa}(y)"]
        elif shape == "nested":  # an element whose read needs another read
            body = [f"total = sum([{b}({a}(y) % {m}) + y for y in range(x % {m + 3})])"]
            twin = [
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    {pb}({a}(y) % {m})",
            ]
        else:  # a read before the loop, then two stages
            body = [
                f"head = {c}(x)",
                "total = head",
                f"for y in range(x % {m + 3}):",
                f"    row = {a}(y)",
                f"    total += {b}(row + head)",
            ]
            twin = [
                f"{pc}(x)",
                f"for y in range(x % {m + 3}):",
                f"    {pa}(y)",
                "yield",
                f"for y in range(x % {m + 3}):",
                f"    {pb}({a}(y) + {c}(x))",
            ]
        body.append("return total")
        generator = "yield" in twin
        logic.append(f"def h{j}(x):")
        logic += [f"    {line}" for line in body]
        logic.append("")
        if generator:
            logic.append("@priming.generator")
        logic.append(f"def prime_h{j}(x):")
        logic += [f"    {line}" for line in twin]
        logic.append("")
        composites.append((f"h{j}", f"prime_h{j}"))
        if shape == "search":
            searches.add(f"h{j}")
    # A search loop is read ahead because its twin primes every item: the view primes it.
    # (Called without its twin, the legacy loop reads only the items up to the match, and
    # the migrated one reads them all, in one round.)
    primed = [c for c in composites if c[0] in searches or draw(st.booleans())]
    logic += ["def main(xs):", "    for x in xs:"]
    logic += [f"        {prime}(x)" for _, prime in primed] or ["        pass"]
    reads = ", ".join(f"{read}(x)" for read, _ in composites)
    logic += [f"    return [({reads},) for x in xs]", ""]
    return "\n".join(base), "\n".join(logic)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(programs(), st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True))
def test_a_migrated_program_with_staged_loops_gives_the_same_outputs_with_no_more_round_trips(
    server: MemcachedServer, program: tuple[str, str], xs: list[int]
) -> None:
    base_src, logic_src = program
    assert_migrated_no_worse(server.address, base_src, logic_src, xs, "st")


#: the cached functions of the hand-written programs below (what the generator's base holds)
TWO_CACHED = """
from stcache import mc

@mc.cached("c0")
def c0(x):
    return x % 7

prime_c0 = c0.prime

@mc.cached("c1")
def c1(x):
    return x % 5

prime_c1 = c1.prime
"""


def test_the_staged_shapes_are_converted(dedent):
    """The generator above produces programs the migration converts (not only refusals)."""
    base = dedent(TWO_CACHED)
    logic = dedent(
        """
        from asynq import priming
        from stbase import c0, prime_c0, c1, prime_c1

        def h0(x):
            total = 0
            for y in range(x % 5):
                row = c0(y)
                if row % 2 == 1:
                    continue
                total += c1(row + 1) - y
            return total

        @priming.generator
        def prime_h0(x):
            for y in range(x % 5):
                prime_c0(y)
            yield
            for y in range(x % 5):
                if c0(y) % 2 != 1:
                    prime_c1(c0(y) + 1)
        """
    )
    result = migrate_sources({"st/stbase.py": base, "st/stlogic.py": logic})
    assert result.refusals == []
    assert ("st/stlogic.py", "h0") in result.converted


def test_the_nested_and_search_shapes_are_converted(dedent):
    """The shapes of reads nested in loop bodies and elements, and search loops, that the
    generator above produces are converted too."""
    base = dedent(TWO_CACHED)
    logic = dedent(
        """
        from asynq import priming
        from stbase import c0, prime_c0, c1, prime_c1

        def h0(x):
            total = 0
            for y in range(x % 5):
                size = c0(y) % 3
                if size == 1:
                    continue
                total += sum(c1(z + y) for z in range(size))
            return total

        @priming.generator
        def prime_h0(x):
            for y in range(x % 5):
                prime_c0(y)
            yield
            for y in range(x % 5):
                if c0(y) % 3 != 1:
                    for z in range(c0(y) % 3):
                        prime_c1(z + y)

        def h1(x):
            total = 0
            for y in range(x % 6):
                if c0(y) % 3 == 2:
                    total = y + 1
                    break
            return total

        def prime_h1(x):
            for y in range(x % 6):
                prime_c0(y)

        def h2(x):
            total = sum([c1(c0(y) % 4) + y for y in range(x % 4)])
            return total

        @priming.generator
        def prime_h2(x):
            for y in range(x % 4):
                prime_c0(y)
            yield
            for y in range(x % 4):
                prime_c1(c0(y) % 4)
        """
    )
    result = migrate_sources({"st/stbase.py": base, "st/stlogic.py": logic})
    assert result.refusals == []
    assert {("st/stlogic.py", f"h{i}") for i in range(3)} <= set(result.converted)

"""Property test against a real memcached: a random priming program (cached reads, composite
functions calling each other, loops, comprehensions, generator twins, a twin with a side
effect, views that prime or do not) and its migration return the same outputs, and the
migration costs no more round trips per request, cold or warm."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynq.memcache.server import MemcachedServer
from tests.migrate.random_programs import assert_migrated_no_worse


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, str]:
    n_cached = draw(st.integers(1, 4))
    base = ["from rtcache import mc", ""]
    for i in range(n_cached):
        k, b = draw(st.integers(2, 9)), draw(st.integers(0, 9))
        base += [
            f'@mc.cached("c{i}")',
            f"def c{i}(x):",
            f"    return (x * {k} + {b}) % 23",
            "",
            f"prime_c{i} = c{i}.prime",
            "",
        ]
    imported = ", ".join(f"c{i}, prime_c{i}" for i in range(n_cached))
    logic = ["from asynq import priming", f"from rtbase import {imported}", "", "EVENTS = []", ""]
    callees = [(f"c{i}", f"prime_c{i}") for i in range(n_cached)]
    n_composite = draw(st.integers(1, 5))
    for j in range(n_composite):
        read0, prime0 = draw(st.sampled_from(callees))
        read1, prime1 = draw(st.sampled_from(callees))
        shape = draw(
            st.sampled_from(
                [
                    "pair",
                    "chain",
                    "comp",
                    "append",
                    "dict",
                    "sum",
                    "expr",
                    "lambda",
                    "effect",
                    "cond",
                    "element",
                    "call",
                    "helper",
                    "loop",
                    "loopjump",
                    "sortkey",
                    "filter",
                ]
            )
        )
        generator_twin = shape == "chain" or draw(st.booleans())
        if shape == "pair":
            body = [f"a = {read0}(x)", f"b = {read1}(x + 1)", "return a * 3 + b"]
            twin = [f"{prime0}(x)", f"{prime1}(x + 1)"]
        elif shape == "chain":
            body = [f"a = {read0}(x)", f"b = {read1}(a % 5)", "return a + b"]
            twin = [f"{prime0}(x)", "yield", f"{prime1}({read0}(x) % 5)"]
        elif shape == "comp":
            body = [f"vals = [{read0}(y) for y in range(x % 4)]", "return sum(vals) + len(vals)"]
            twin = ["for y in range(x % 4):", f"    {prime0}(y)"]
        elif shape == "append":
            body = [
                "out = []",
                "for y in range(x % 3 + 1):",
                f"    out.append({read0}(y + x))",
                "return sum(out)",
            ]
            twin = ["for y in range(x % 3 + 1):", f"    {prime0}(y + x)"]
        elif shape == "dict":
            body = [f"return sum({{y: {read0}(y) for y in range(3)}}.values()) - x"]
            twin = ["for y in range(3):", f"    {prime0}(y)"]
        elif shape == "sum":
            body = [f"return {read0}(x) - 2 * {read1}(x + 2)"]
            twin = [f"{prime0}(x)", f"{prime1}(x + 2)"]
        elif shape == "expr":
            body = [f"return {read0}(x) - 2 * {read1}(x + 2) if x else 0"]
            twin = [f"{prime0}(x)", f"{prime1}(x + 2)"]
        elif shape == "lambda":  # refused: stays legacy
            body = [f"return sum(map(lambda y: {read0}(y), range(x % 3)))"]
            twin = ["for y in range(x % 3):", f"    {prime0}(y)"]
        elif shape == "cond":  # a read in the condition: two phases
            body = [f"return sum([{read1}(y) for y in range(x % 4) if {read0}(y) % 2])"]
            twin = ["for y in range(x % 4):", f"    {prime0}(y)", f"    {prime1}(y)"]
        elif shape == "element":  # reads inside a larger element
            body = [f"return sum([{read0}(y) * 2 + {read1}(y + 1) for y in range(x % 3)])"]
            twin = ["for y in range(x % 3):", f"    {prime0}(y)", f"    {prime1}(y + 1)"]
        elif shape == "call" and len(callees) > n_cached:  # a composite calling another one
            inner_read, inner_prime = draw(st.sampled_from(callees[n_cached:]))
            body = [f"return {inner_read}(x) + {read0}(x + 3)"]
            twin = [f"{inner_prime}(x)", f"{prime0}(x + 3)"]
        elif shape == "helper":  # reads through a helper function that has no twin
            logic += [f"def helper{j}(y):", f"    return {read0}(y) * 3", ""]
            body = [f"return helper{j}(x) + {read1}(x)"]
            twin = [f"{prime0}(x)", f"{prime1}(x)"]
        elif shape == "loop":  # reads every iteration makes: hoisted before the loop
            body = [
                "total = 0",
                "for y in range(x % 4):",
                f"    total += {read0}(y) * 2",
                f"    if {read1}(y + 1) % 2:",
                "        total += 1",
                "return total",
            ]
            twin = ["for y in range(x % 4):", f"    {prime0}(y)", f"    {prime1}(y + 1)"]
        elif shape == "loopjump":  # a read after a guard: read for the items that pass it
            body = [
                "total = 0",
                "for y in range(x % 4):",
                "    if y == 2:",
                "        continue",
                f"    total += {read0}(y)",
                "return total",
            ]
            twin = ["for y in range(x % 4):", f"    {prime0}(y)"]
        elif shape == "filter":  # a plain condition, reads in the element: filter first
            body = [f"return sum({read0}(y) + 1 for y in range(x % 5) if y != 2)"]
            twin = ["for y in range(x % 5):", "    if y != 2:", f"        {prime0}(y)"]
        elif shape == "sortkey":  # a lambda sort key that reads: a dict fetched first
            body = [
                "ys = list(range(x % 5 + 1))",
                f"return max(ys, key=lambda y: ({read0}(y), -y))",
            ]
            twin = ["for y in range(x % 5 + 1):", f"    {prime0}(y)"]
        else:  # a twin that records an event: the event must still happen
            body = [f"return {read0}(x) + 1"]
            twin = ["EVENTS.append(x)", f"{prime0}(x)"]
            generator_twin = False
        if generator_twin and "yield" not in twin:
            twin.append("yield")
        logic.append(f"def h{j}(x):")
        logic += [f"    {line}" for line in body]
        logic.append("")
        if generator_twin:
            logic.append("@priming.generator")
        logic.append(f"def prime_h{j}(x):")
        logic += [f"    {line}" for line in twin]
        logic.append("")
        callees.append((f"h{j}", f"prime_h{j}"))
    composites = callees[n_cached:]
    primed = [c for c in composites if draw(st.booleans())] or composites[:1]
    if draw(st.booleans()):
        primed.append(callees[0])  # a cached function, primed in the view too
    logic += ["def main(xs):", "    for x in xs:"]
    logic += [f"        {prime}(x)" for _, prime in primed]
    reads = ", ".join(f"{read}(x)" for read, _ in composites + callees[:1])
    logic += [f"    return [({reads},) for x in xs], len(EVENTS)", ""]
    return "\n".join(base), "\n".join(logic)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(programs(), st.lists(st.integers(0, 40), min_size=1, max_size=4, unique=True))
def test_a_migrated_random_program_gives_the_same_outputs_with_no_more_round_trips(
    server: MemcachedServer, program: tuple[str, str], xs: list[int]
) -> None:
    base_src, logic_src = program
    assert_migrated_no_worse(server.address, base_src, logic_src, xs, "rt")

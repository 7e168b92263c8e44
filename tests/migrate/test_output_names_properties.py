"""Property test against a real memcached: random priming programs whose reads sit inside
larger expressions (if tests, f-strings, conditional expressions, for headers, after calls
with effects, the same read twice) keep their outputs and round trips once their fetched
values are named, and a second migration changes nothing."""

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


def _shape(name: str, a: str, b: str) -> tuple[list[str], list[str]]:
    """The body of a function reading ``a`` and ``b`` in one of the shapes, and its twin (each
    body reads at least once whatever ``x`` is: a view that primes a function which then reads
    nothing costs a round trip once the function is converted, a matter of the priming
    runtime rather than of the shape of the output)."""
    both = [f"prime_{a}(x)", f"prime_{b}(x + 1)"]
    if name == "if_test":
        return [f"if {a}(x) % 2:", f"    return {b}(x + 1)", "return -1"], both
    if name == "elif_test":
        return [
            "if x > 30:",
            f"    return {a}(x)",
            f"elif {a}(x) > 10:",
            f"    return {b}(x + 1)",
            "return 3",
        ], both
    if name == "choice":
        return [f"v = {a}(x) * 2 if x % 2 else {b}(x + 1)", "return v"], both
    if name == "choice_return":
        return [f"return {a}(x) + 1 if x % 3 else {b}(x + 1)"], both
    if name == "fstring":
        return [f'return f"{{{a}(x) % 5}}-{{x}}"'], [f"prime_{a}(x)"]
    if name == "compare":
        return [f"return x % 5 == {a}(x) % 5"], [f"prime_{a}(x)"]
    if name == "for_header":
        return [
            "total = 0",
            f"for y in range({a}(x) % 4):",
            "    total += y",
            "return total",
        ], [f"prime_{a}(x)"]
    if name == "after_effect":
        return [f"return (note(x), {a}(x))[1]"], [f"prime_{a}(x)"]
    if name == "boolean":
        return [f"return {a}(x) % 2 and {b}(x + 1)"], both
    if name == "twice":
        return [f"return {{'m': {a}(x) % 7, 'p': {a}(x) + 1, 'o': {b}(x + 1)}}"], both
    if name == "twice_comprehension":
        return [f"return [{a}(y) % 3 + {a}(y) for y in range(x % 4)]"], [
            "for y in range(x % 4):",
            f"    prime_{a}(y)",
        ]
    if name == "repeat":
        return [f"first = {a}(x) + 1", f"second = {a}(x) * 2", "return first + second"], [
            f"prime_{a}(x)"
        ]
    # "statements": the same read in two statements, and a subscript of a list of reads
    return [f"first = {a}(x) + 1", f"second = [{a}(x), {b}(x + 1)][1]", "return first + second"], both


SHAPES = [
    "if_test",
    "elif_test",
    "choice",
    "choice_return",
    "fstring",
    "compare",
    "for_header",
    "after_effect",
    "boolean",
    "twice",
    "twice_comprehension",
    "repeat",
    "statements",
]


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, str]:
    n_cached = draw(st.integers(1, 3))
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
    logic = [
        f"from rtbase import {imported}",
        "",
        "EVENTS = []",
        "",
        "",
        "def note(x):",
        "    EVENTS.append(x)",
        "    return x",
        "",
    ]
    cached = [f"c{i}" for i in range(n_cached)]
    names = []
    for j in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(SHAPES))
        body, twin = _shape(shape, draw(st.sampled_from(cached)), draw(st.sampled_from(cached)))
        logic.append(f"def h{j}(x):")
        logic += [f"    {line}" for line in body]
        logic += ["", f"def prime_h{j}(x):"]
        logic += [f"    {line}" for line in twin]
        logic.append("")
        names.append(f"h{j}")
    primed = [n for n in names if draw(st.booleans())] or names[:1]
    logic += ["def main(xs):", "    for x in xs:"]
    logic += [f"        prime_{name}(x)" for name in primed]
    reads = ", ".join(f"{name}(x)" for name in names)
    logic += [f"    return [({reads},) for x in xs], len(EVENTS)", ""]
    return "\n".join(base), "\n".join(logic)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(programs(), st.lists(st.integers(0, 40), min_size=1, max_size=4, unique=True))
def test_named_reads_keep_the_outputs_and_cost_no_more_round_trips(
    server: MemcachedServer, program: tuple[str, str], xs: list[int]
) -> None:
    base_src, logic_src = program
    new_logic = assert_migrated_no_worse(server.address, base_src, logic_src, xs, "rt")
    assert "@asynq()" in new_logic  # the functions were converted

"""Property test: random priming programs migrate into code that parses, is stable under a
second run, and computes the same values as the original.

Both versions run against the real ``asynq`` decorator and tiny in-memory stand-ins for
the legacy runtime: ``fakecache.mc.cached`` makes an ``@asynq()`` function with a
``.prime`` that only records, and ``fakeprime.priming.generator`` drives a twin to its end.
"""

from __future__ import annotations

import types

from hypothesis import given, settings
from hypothesis import strategies as st

from asynq import asynq
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import installed

PRIMED: list[tuple[str, tuple[object, ...]]] = []


def _cached(ns):
    def decorate(fn):
        wrapped = asynq()(fn)

        def prime(*args):
            PRIMED.append((ns, args))

        wrapped.prime = prime
        return wrapped

    return decorate


def _generator(fn):
    def drive(*args):
        for _ in fn(*args):
            pass

    return drive


def run_program(base_src, logic_src, xs):
    """Import the two generated modules (fresh) and return ``main(xs)``."""
    fakecache = types.ModuleType("fakecache")
    fakecache.mc = types.SimpleNamespace(cached=_cached)
    fakeprime = types.ModuleType("fakeprime")
    fakeprime.priming = types.SimpleNamespace(generator=_generator)
    genbase = types.ModuleType("genbase")
    genlogic = types.ModuleType("genlogic")
    with installed(
        {"fakecache": fakecache, "fakeprime": fakeprime, "genbase": genbase, "genlogic": genlogic}
    ):
        exec(compile(base_src, "gen/genbase.py", "exec"), genbase.__dict__)
        exec(compile(logic_src, "gen/genlogic.py", "exec"), genlogic.__dict__)
        return genlogic.main(xs)


IMPORT_STYLES = {
    "from": lambda n: (n, f"prime_{n}"),
    "alias": lambda n: (f"gb.{n}", f"gb.prime_{n}"),
    "module": lambda n: (f"genbase.{n}", f"genbase.prime_{n}"),
}


@st.composite
def programs(draw):
    n_cached = draw(st.integers(1, 4))
    base = ["from fakeprime import priming", "from fakecache import mc", ""]
    for i in range(n_cached):
        k, b = draw(st.integers(2, 9)), draw(st.integers(0, 9))
        base += [
            f'@mc.cached("c{i}")',
            f"def c{i}(x):",
            f"    return (x * {k} + {b}) % 23",
            f"prime_c{i} = c{i}.prime",
            "",
        ]
    style = draw(st.sampled_from(sorted(IMPORT_STYLES)))
    names = IMPORT_STYLES[style]
    logic = ["from fakeprime import priming"]
    if style == "from":
        imported = ", ".join(f"c{i}, prime_c{i}" for i in range(n_cached))
        logic.append(f"from genbase import {imported}")
    elif style == "alias":
        logic.append("import genbase as gb")
    else:
        logic.append("import genbase")
    logic.append("")
    callees = [names(f"c{i}") for i in range(n_cached)]  # (read, prime) spellings
    n_composite = draw(st.integers(1, 5))
    for j in range(n_composite):
        read0, prime0 = draw(st.sampled_from(callees))
        read1, prime1 = draw(st.sampled_from(callees))
        shapes = ["pair", "chain", "comp", "append", "dict", "lambda", "expr", "sum"]
        shape = draw(st.sampled_from(shapes))
        generator_twin = shape == "chain" or draw(st.booleans())
        body: list[str]
        twin: list[str]
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
        elif shape == "lambda":  # refused: stays in priming style
            body = [f"return sum(map(lambda y: {read0}(y), range(x % 3)))"]
            twin = ["for y in range(x % 3):", f"    {prime0}(y)"]
        elif shape == "sum":  # two reads in one expression: hoisted into one yield
            body = [f"return {read0}(x) - 2 * {read1}(x + 2)"]
            twin = [f"{prime0}(x)", f"{prime1}(x + 2)"]
        else:
            body = [f"return {read0}(x) - 2 * {read1}(x + 2) if x else 0"]
            twin = [f"{prime0}(x)", f"{prime1}(x + 2)"]
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
    logic += ["def main(xs):", "    for x in xs:"]
    roots = callees[n_cached:]  # every composite function, primed then read
    if draw(st.booleans()):
        roots.append(callees[0])  # and a cached one, primed in the view
    for _, prime in roots:
        logic.append(f"        {prime}(x)")
    reads = ", ".join(f"{read}(x)" for read, _ in roots)
    logic += [f"    return [({reads},) for x in xs]", ""]
    return "\n".join(base), "\n".join(logic)


@settings(max_examples=40, deadline=None)
@given(programs(), st.lists(st.integers(0, 40), min_size=1, max_size=4))
def test_a_random_priming_program_migrates_to_equivalent_stable_asynq_code(program, xs):
    base_src, logic_src = program
    sources = {"gen/genbase.py": base_src, "gen/genlogic.py": logic_src}
    result = migrate_sources(sources)
    for path, code in result.code.items():
        compile(code, path, "exec", dont_inherit=True)
    assert migrate_sources(result.code).code == result.code
    expected = run_program(base_src, logic_src, xs)
    got = run_program(result.code["gen/genbase.py"], result.code["gen/genlogic.py"], xs)
    assert got == expected
    migrated = result.code["gen/genlogic.py"]
    refused = {r.function for r in result.refusals}
    for path, name in result.converted:
        assert f"def prime_{name}(" not in result.code[path] or any(
            f"prime_{name}(" in line
            for line in migrated.splitlines()
            if not line.lstrip().startswith("def ")
        )
    for name in refused:
        assert f"def prime_{name}(" in migrated, f"the twin of refused {name} was removed"
    if "lambda" not in logic_src:
        assert not result.refusals

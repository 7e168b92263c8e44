"""Running a generated priming program (a base module of cached functions and a logic module
with a view ``main``) against a real memcached, for the property tests of the migration."""

from __future__ import annotations

import sys
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import strategies as st

from asynq import priming
from asynq.memcache import MemcacheClient
from asynq.migrate import migrate_sources


@contextmanager
def installed(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """``modules`` importable by name for the block, and whatever they replaced put back."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def run(
    address: str, base_src: str, logic_src: str, xs: list[int], prefix: str = "rt"
) -> list[tuple[Any, int]]:
    """Import the program (modules ``<prefix>cache``, ``<prefix>base``, ``<prefix>logic``)
    with a fresh key prefix; run its view cold, then warm: (output, round trips) per run."""
    client = MemcacheClient(address, key_prefix=f"{prefix}{uuid.uuid4().hex[:12]}:")
    trips: list[object] = []
    client.on_round_trip.subscribe(trips.append)
    cache = types.ModuleType(f"{prefix}cache")
    cache.mc = client  # type: ignore[attr-defined]
    base, logic = types.ModuleType(f"{prefix}base"), types.ModuleType(f"{prefix}logic")
    out = []
    try:
        with installed({cache.__name__: cache, base.__name__: base, logic.__name__: logic}):
            for module, source in ((base, base_src), (logic, logic_src)):
                code = compile(source, f"{prefix}/{module.__name__}.py", "exec")
                exec(code, module.__dict__)  # noqa: S102
            for _ in ("cold", "warm"):
                trips.clear()
                with client.request():
                    value = logic.main(xs)
                priming.end_request()
                out.append((value, len(trips)))
    finally:
        client.close()
    return out


def assert_migrated_no_worse(
    address: str, base_src: str, logic_src: str, xs: list[int], prefix: str = "rt"
) -> str:
    """Migrate the program (modules ``<prefix>/<prefix>base.py`` and ``<prefix>logic.py``),
    check that a second migration changes nothing and that the migrated view returns the same
    values with no more round trips, cold and warm; return the migrated logic module."""
    base_path, logic_path = f"{prefix}/{prefix}base.py", f"{prefix}/{prefix}logic.py"
    result = migrate_sources({base_path: base_src, logic_path: logic_src})
    assert migrate_sources(result.code).code == result.code  # idempotent
    new_logic = result.code[logic_path]
    before = run(address, base_src, logic_src, xs, prefix)
    after = run(address, result.code[base_path], new_logic, xs, prefix)
    for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
        assert new_value == old_value, new_logic
        assert new_trips <= old_trips, f"{old_trips} -> {new_trips} round trips\n{new_logic}"
    return new_logic


@st.composite
def walk_programs(draw: st.DrawFn) -> tuple[str, str]:
    """A random priming program whose functions walk: a tree by recursion (each node's
    children from the cached ``kids``) or a linked chain with ``while`` (each step's next from
    the cached ``nxt``), with generator twins that walk the same way one level or step per
    round, and a view ``main`` that primes some of them and reads them all."""
    n_cached = draw(st.integers(1, 3))
    fan_out, leaves_from = draw(st.integers(1, 3)), draw(st.integers(1, 12))
    stride = draw(st.integers(1, 4))
    base = ["from rtcache import mc", ""]
    for i in range(n_cached):
        k, b = draw(st.integers(2, 9)), draw(st.integers(0, 9))
        base += [f'@mc.cached("c{i}")', f"def c{i}(x):", f"    return (x * {k} + {b}) % 23", ""]
        base += [f"prime_c{i} = c{i}.prime", ""]
    children = " ".join(f"x * {fan_out} + {n}," for n in range(1, fan_out + 1))
    base += [
        '@mc.cached("kids")',
        "def kids(x):",
        f"    return [{children}] if x < {leaves_from} else []",
        "",
        '@mc.cached("nxt")',
        "def nxt(x):",
        f"    return x - {stride} if x >= {stride} else None",
        "",
        "prime_kids = kids.prime",
        "prime_nxt = nxt.prime",
        "",
    ]
    imported = ", ".join(f"c{i}, prime_c{i}" for i in range(n_cached))
    logic = [
        "from asynq import priming",
        f"from rtbase import {imported}, kids, nxt, prime_kids, prime_nxt",
        "",
    ]
    names: list[str] = []
    for j in range(draw(st.integers(1, 4))):
        read, prime = draw(st.sampled_from([(f"c{i}", f"prime_c{i}") for i in range(n_cached)]))
        shape = draw(st.sampled_from(["tree", "depth", "late-tree", "chain", "late-chain"]))
        name = f"w{j}"
        if shape == "tree":  # children read together with the node's value
            body = [f"a = {read}(x)", f"return a + sum([{name}(c) for c in kids(x)])"]
        elif shape == "depth":  # no value of its own: only how deep the tree goes
            body = [
                "children = kids(x)",
                "if not children:",
                "    return 1",
                f"return 1 + max({name}(c) for c in children)",
            ]
        elif shape == "late-tree":  # reads one statement after another: refused
            body = [
                f"a = {read}(x)",
                f"b = {read}(a + 1)",
                f"return a + b + sum([{name}(c) for c in kids(x)])",
            ]
        elif shape == "chain":  # the step's value and the next step read together
            body = [
                "total = 0",
                "step = x",
                "while step is not None:",
                f"    v = {read}(step)",
                "    step = nxt(step)",
                "    total += v",
                "return total",
            ]
        else:  # late-chain: the next step is read after the value is used: refused
            body = [
                "total = 0",
                "step = x",
                "while step is not None:",
                f"    total += {read}(step)",
                "    step = nxt(step)",
                "return total",
            ]
        if shape in ("chain", "late-chain"):
            twin = [
                "step = x",
                "while step is not None:",
                f"    {prime}(step)",
                "    prime_nxt(step)",
                "    yield",
                "    step = nxt(step)",
            ]
        elif shape == "depth":
            twin = ["prime_kids(x)", "yield", "for c in kids(x):", f"    prime_{name}(c)"]
        else:
            twin = [f"{prime}(x)", "prime_kids(x)", "yield"]
            if shape == "late-tree":
                twin.append(f"{prime}({read}(x) + 1)")
            twin += ["for c in kids(x):", f"    prime_{name}(c)"]
        logic += [f"def {name}(x):", *(f"    {line}" for line in body), ""]
        logic += ["@priming.generator", f"def prime_{name}(x):"]
        logic += [*(f"    {line}" for line in twin), ""]
        names.append(name)
    primed = [n for n in names if draw(st.booleans())] or names[:1]
    logic += ["def main(xs):", "    for x in xs:"]
    logic += [f"        prime_{n}(x)" for n in primed]
    reads = ", ".join(f"{n}(x)" for n in names)
    logic += [f"    return [({reads},) for x in xs]", ""]
    return "\n".join(base), "\n".join(logic)

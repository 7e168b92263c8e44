"""Benchmark of asynq-migrate: generate ~150,000 lines of priming code and migrate them.

Usage: python benchmarks/migrate_bench.py [--lines N] [--jobs N] [--keep]

The generated tree has packages of model modules (cached functions and their alias
twins), logic modules (composite functions with hand-written and @priming.generator
twins, reading models across modules with several import styles, a few functions the
codemod must refuse) and views that prime then read. The timed command is the full
``asynq-migrate --jobs N`` run (analysis of every file, rewrite, diff), without --write.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL_FUNCS = 24
LOGIC_FUNCS = 16


def model_module(pkg: int, mod: int) -> str:
    out = [
        f'"""Models {pkg}.{mod} (generated)."""',
        "from asynq import priming",
        "from benchapp.cache import mc",
        "",
    ]
    for i in range(MODEL_FUNCS):
        out += [
            "",
            f'@mc.cached("m{pkg}_{mod}_{i}")',
            f"def value_{mod}_{i}(key):",
            f'    """Value {i} of a key."""',
            f"    return load_row({i}, key)",
            "",
            f"prime_value_{mod}_{i} = value_{mod}_{i}.prime",
        ]
    return "\n".join(out) + "\n"


def logic_module(pkg: int, mod: int, n_models: int) -> str:
    a, b = mod % n_models, (mod + 1) % n_models
    out = [
        f'"""Logic {pkg}.{mod} (generated)."""',
        "from asynq import priming",
        f"from benchapp.p{pkg} import models_{a} as ma",
        f"from benchapp.p{pkg}.models_{b} import (",
        f"    value_{b}_0, value_{b}_1, value_{b}_2,",
        f"    prime_value_{b}_0, prime_value_{b}_1, prime_value_{b}_2,",
        ")",
        "",
    ]
    for i in range(LOGIC_FUNCS):
        x, y = i % MODEL_FUNCS, (i + 5) % MODEL_FUNCS
        shape = i % 8
        out.append("")
        if shape == 0:
            out += [
                f"def pair_{i}(key):",
                "    # two independent reads",
                f"    first = ma.value_{a}_{x}(key)",
                f"    second = value_{b}_0(key)",
                "    return (first, second)",
                "",
                f"def prime_pair_{i}(key):",
                f"    ma.prime_value_{a}_{x}(key)",
                f"    prime_value_{b}_0(key)",
            ]
        elif shape == 1:
            out += [
                f"def names_{i}(keys):",
                f"    return [ma.value_{a}_{y}(k) for k in keys]",
                "",
                f"def prime_names_{i}(keys):",
                "    for k in keys:",
                f"        ma.prime_value_{a}_{y}(k)",
            ]
        elif shape == 2:
            out += [
                f"def chain_{i}(key):",
                f"    ids = ma.value_{a}_{x}(key)",
                f"    return [value_{b}_1(k) for k in ids]",
                "",
                "@priming.generator",
                f"def prime_chain_{i}(key):",
                f"    ma.prime_value_{a}_{x}(key)",
                "    yield",
                f"    for k in ma.value_{a}_{x}(key):",
                f"        prime_value_{b}_1(k)",
            ]
        elif shape == 3:
            out += [
                f"def collect_{i}(keys):",
                "    result = []",
                "    for k in keys:",
                "        if k:",
                f"            result.append(value_{b}_2(k))",
                "    return result",
                "",
                f"def prime_collect_{i}(keys):",
                "    for k in keys:",
                f"        prime_value_{b}_2(k)",
            ]
        elif shape == 4:
            out += [
                f"def table_{i}(keys):",
                f"    return {{k: ma.value_{a}_{y}(k) for k in keys}}",
                "",
                f"def prime_table_{i}(keys):",
                "    for k in keys:",
                f"        ma.prime_value_{a}_{y}(k)",
            ]
        elif shape == 5:
            prev = i - 5  # a pair_ function of this module
            out += [
                f"def summary_{i}(key):",
                f"    pair = pair_{prev}(key)",
                f"    extra = ma.value_{a}_{y}(key)",
                "    return {'pair': pair, 'extra': extra}",
                "",
                f"def prime_summary_{i}(key):",
                f"    prime_pair_{prev}(key)",
                f"    ma.prime_value_{a}_{y}(key)",
            ]
        elif shape == 6:
            out += [
                f"def sorted_{i}(keys):",
                "    # refused: a read inside a lambda",
                f"    return sorted(keys, key=lambda k: ma.value_{a}_{x}(k))",
                "",
                f"def prime_sorted_{i}(keys):",
                "    for k in keys:",
                f"        ma.prime_value_{a}_{x}(k)",
            ]
        else:
            out += [
                f"def score_{i}(key):",
                f"    if ma.value_{a}_{x}(key):",
                f"        return len(str(value_{b}_0(key))) + 1",
                "    return 0",
                "",
                f"def prime_score_{i}(key):",
                f"    ma.prime_value_{a}_{x}(key)",
                f"    prime_value_{b}_0(key)",
            ]
    return "\n".join(out) + "\n"


def view_module(pkg: int, n_logic: int) -> str:
    out = [f'"""Views of package {pkg} (generated)."""']
    for mod in range(n_logic):
        out.append(f"from benchapp.p{pkg} import logic_{mod}")
    for mod in range(n_logic):
        out += [
            "",
            "",
            f"def page_{mod}(key, keys):",
            f"    logic_{mod}.prime_pair_0(key)",
            f"    logic_{mod}.prime_names_1(keys)",
            "    return (",
            f"        logic_{mod}.pair_0(key),",
            f"        logic_{mod}.names_1(keys),",
            "    )",
        ]
    return "\n".join(out) + "\n"


def generate(root: str, target_lines: int) -> tuple[int, int]:
    """Write the tree under ``root``; returns (files, lines)."""
    app = os.path.join(root, "benchapp")
    os.makedirs(app)
    files = lines = 0

    def write(rel: str, text: str) -> None:
        nonlocal files, lines
        path = os.path.join(app, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        files += 1
        lines += text.count("\n")

    write("__init__.py", "")
    write(
        "cache.py",
        "from asynq.memcache import MemcacheClient\n\nmc = MemcacheClient('127.0.0.1:11211')\n",
    )
    n_models, n_logic = 4, 6
    pkg = 0
    while lines < target_lines:
        write(f"p{pkg}/__init__.py", "")
        for mod in range(n_models):
            write(f"p{pkg}/models_{mod}.py", model_module(pkg, mod))
        for mod in range(n_logic):
            write(f"p{pkg}/logic_{mod}.py", logic_module(pkg, mod, n_models))
        write(f"p{pkg}/views.py", view_module(pkg, n_logic))
        pkg += 1
    return files, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=150_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="asynq-migrate-bench-")
    try:
        files, lines = generate(root, args.lines)
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        report = os.path.join(root, "report.json")
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "asynq.migrate",
                "--jobs",
                str(args.jobs),
                "--report",
                report,
                os.path.join(root, "benchapp"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        seconds = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (
            cpu_before.ru_utime + cpu_before.ru_stime
        )
        summary = [line for line in proc.stderr.splitlines() if line.startswith("asynq-migrate:")]
        print(summary[-1] if summary else proc.stderr[-2000:])
        print(
            f"{lines} lines in {files} files migrated with --jobs {args.jobs} in "
            f"{seconds:.1f} s: {lines / seconds:,.0f} lines/s (exit status {proc.returncode})"
        )
        print(
            f"CPU time of the run (all processes): {cpu:.1f} s; load average before: "
            f"{os.getloadavg()[0]:.2f} (other work on the machine slows the wall time)"
        )
        if proc.returncode not in (0, 3):
            return 1
        return 0
    finally:
        if args.keep:
            print(f"tree kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

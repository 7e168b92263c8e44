"""Scheduler overhead: this asynq against asynq 1.6.0 (its compiled wheel), side by side.

    python benchmarks/scheduler.py [--repeat 15] [--baseline-python PATH]

With --instructions, valgrind's callgrind counts the instructions of one run of each case
instead (slow, but the same figure every time, where wall time here moves by a fifth).

Without --baseline-python, asynq 1.6.0 is installed from the package index into a throwaway
virtual environment (deleted at exit). Each implementation runs the same workloads in its own
interpreter; the table shows medians and the ratio ours/theirs (lower is better; the target is
at most 0.5 on every case but the ConstFuture one, where it is 1.0: there the work is mostly
creating and freeing 10,000 futures, which a pure-Python object cannot do as cheaply as a compiled
one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import venv

# The workload runs in a child interpreter, against whichever `asynq` that interpreter imports.
WORKLOAD = r"""
import json, sys, time, gc
from asynq import asynq, BatchBase, BatchItemBase, ConstFuture

@asynq()
def leaf_plain(i):
    return i

@asynq()
def leaf_gen(i):
    if False:
        yield
    return i

@asynq()
def fan_out(leaf, n):
    values = yield [leaf.asynq(i) for i in range(n)]
    return len(values)

@asynq()
def chain(n):
    if n == 0:
        return 0
    below = yield chain.asynq(n - 1)
    return below + 1

@asynq()
def tree(depth):
    if depth == 0:
        return 1
    counts = yield [tree.asynq(depth - 1) for _ in range(10)]
    return sum(counts) + 1

class KeyBatch(BatchBase):
    active = None
    def _try_switch_active_batch(self):
        if KeyBatch.active is self:
            KeyBatch.active = KeyBatch()
    def _flush(self):
        for item in self.items:
            item.set_value(item.key)
    def _cancel(self):
        pass

KeyBatch.active = KeyBatch()

class KeyItem(BatchItemBase):
    def __init__(self, key):
        super().__init__(KeyBatch.active)
        self.key = key

@asynq()
def many_items(n):
    values = yield [KeyItem(i) for i in range(n)]
    return len(values)

@asynq()
def const_futures(n):
    values = yield [ConstFuture(i) for i in range(n)]
    return len(values)

def sync_calls(n):
    for i in range(n):
        leaf_plain(i)

def sync_gen_calls(n):
    for i in range(n):
        leaf_gen(i)

CASES = {
    "10k plain tasks in one list": (lambda: fan_out(leaf_plain, 10000), 10000),
    "10k generator tasks in one list": (lambda: fan_out(leaf_gen, 10000), 10000),
    "chain 500 deep": (lambda: chain(500), 501),
    "tree fan-out 10, depth 4": (lambda: tree(4), 11111),
    "10k batch items, one flush": (lambda: many_items(10000), 10000),
    "10k ConstFutures in one list": (lambda: const_futures(10000), 10000),
    "10k top-level sync calls (plain)": (lambda: sync_calls(10000), 10000),
    "10k top-level sync calls (generator)": (lambda: sync_gen_calls(10000), 10000),
}

"""

# Ratio ours/theirs that each case must stay under; cases not named here: 0.5.
TARGETS = {"10k ConstFutures in one list": 1.0}

# Timing mode: answer requests, one case per line, with the seconds the case took.
SERVE = r"""
import asynq
print(json.dumps({"version": getattr(asynq, "__version__", "1.6.0"), "file": asynq.__file__,
                  "cases": {name: units for name, (_, units) in CASES.items()}}), flush=True)
for line in sys.stdin:  # one case name per line: run it once, answer with the seconds it took
    run = CASES[line.strip()][0]
    gc.collect()
    start = time.perf_counter()
    run()
    print(time.perf_counter() - start, flush=True)
"""

# Instruction mode: run one case N times (argv: case, N) under callgrind.
COUNT = r"""
run = CASES[sys.argv[1]][0]
for _ in range(int(sys.argv[2])):
    run()
"""


class Worker:
    """A child interpreter that runs one case per request, so that the two implementations can
    take turns and share whatever the machine is doing at the time."""

    def __init__(self, python: str, cwd: str, script: str = WORKLOAD + SERVE) -> None:
        self.proc = subprocess.Popen(
            [python, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        self.info = json.loads(self._read())

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker exited with {self.proc.wait()}")
        return line

    def run(self, *request: str) -> float:
        """Send one request (its words joined by tabs); return the seconds the worker reports."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\t".join(request) + "\n")
        self.proc.stdin.flush()
        return float(self._read())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def instructions(python: str, cwd: str, case: str, times: int) -> int:
    """Instructions callgrind counts for the whole interpreter running ``case`` ``times`` times."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        + [python, "-c", WORKLOAD + COUNT, case, str(times)],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def per_run_instructions(python: str, cwd: str, case: str) -> float:
    """Instructions of one run of ``case``: the difference between three runs and one, halved,
    so that start-up, imports and the warm-up run cancel out."""
    return (instructions(python, cwd, case, 3) - instructions(python, cwd, case, 1)) / 2


def instruction_table(baseline: str, repo: str, tmp: str) -> None:
    """Instructions per run, ours against 1.6.0: repeatable where wall time is not."""
    ours = Worker(sys.executable, repo)
    cases = ours.info["cases"]
    ours.close()
    print("instructions per run (callgrind), the same for every run of the same code\n")
    print("| case | ours (M instr.) | asynq 1.6.0 (M instr.) | ratio |")
    print("|---|---:|---:|---:|")
    for case in cases:
        mine = per_run_instructions(sys.executable, repo, case)
        base = per_run_instructions(baseline, tmp, case)
        print(f"| {case} | {mine / 1e6:.1f} | {base / 1e6:.1f} | {mine / base:.2f}x |")


def make_baseline(tmp: str) -> str:
    print("installing asynq==1.6.0 into a throwaway virtual environment ...", file=sys.stderr)
    venv.create(tmp, with_pip=True)
    python = os.path.join(tmp, "bin", "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "asynq==1.6.0"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="runs per case, in all")
    parser.add_argument(
        "--processes", type=int, default=3, help="interpreter pairs to spread runs over"
    )
    parser.add_argument("--baseline-python", help="a python that has asynq 1.6.0 installed")
    parser.add_argument("--json", help="also write the raw timings here")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions with valgrind's callgrind instead of timing (slow, repeatable)",
    )
    args = parser.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="asynq16-") as tmp:
        baseline = args.baseline_python or make_baseline(tmp)
        if args.instructions:
            instruction_table(baseline, repo, tmp)
            return 0
        # Timings differ from one interpreter process to the next (memory layout), so each
        # implementation runs in several processes; within each, the two take turns.
        times: dict[str, dict[str, list[float]]] = {"ours": {}, "theirs": {}}
        per_process = max(1, args.repeat // args.processes)
        for _ in range(args.processes):
            # The baseline runs from a neutral directory so that it cannot import this checkout.
            ours, theirs = Worker(sys.executable, repo), Worker(baseline, tmp)
            cases = ours.info["cases"]
            for case in cases:
                ours.run(case), theirs.run(case)  # warm up
                for _ in range(per_process):
                    times["ours"].setdefault(case, []).append(ours.run(case))
                    times["theirs"].setdefault(case, []).append(theirs.run(case))
            ours.close()
            theirs.close()
        runs = per_process * args.processes

    print(
        f"ours:   asynq {ours.info['version']} ({ours.info['file']}), Python {sys.version.split()[0]}"
    )
    print(f"theirs: asynq 1.6.0 ({theirs.info['file']})")
    print(
        f"median of {runs} runs each over {args.processes} interpreter pairs, the two taking "
        "turns; per unit = median / tasks or items\n"
    )
    print(
        "| case | ours (ms) | asynq 1.6.0 (ms) | ours per unit (us) | 1.6.0 per unit (us) | ratio "
        "| target |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    over = []
    for case, units in cases.items():
        mine = statistics.median(times["ours"][case])
        base = statistics.median(times["theirs"][case])
        ratio = mine / base
        target = TARGETS.get(case, 0.5)
        if ratio > target:
            over.append(f"{case} ({ratio:.2f}x)")
        print(
            f"| {case} | {mine * 1e3:.2f} | {base * 1e3:.2f} | {mine / units * 1e6:.2f} | "
            f"{base / units * 1e6:.2f} | {ratio:.2f}x | {target:.2f}x |"
        )
    print("\nover target: " + (", ".join(over) if over else "none"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"times": times, "when": time.time()}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

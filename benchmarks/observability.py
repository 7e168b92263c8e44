"""What observability costs: scheduler statistics, tracing and the profiler on the scheduler
workloads.

    python benchmarks/observability.py [--repeat 15] [--json out.json]

Several child interpreters (``--workers``) take turns; each runs every mode, in a shuffled order,
so that neither the machine's load nor one interpreter's memory layout favours a mode. Times are
the worker's CPU time (``process_time``), so that other processes on a busy machine do not count;
the table shows medians over all runs of all workers. Modes:

- ``no counters``: the kernel with its statistics code cut out (the ``stats.tasks`` increments,
  the round records and the flush timing are removed from ``TaskScheduler``'s methods by an AST
  rewrite, compiled into a subclass): what the scheduler would cost without statistics at all.
- ``stats on``: the default.
- ``stats.disable()``: the runtime switch (no round records; the kernel still bumps counters).
- ``trace``: each run inside ``with asynq.tracing.trace():`` (recording only, no export).
- ``profiler``: ``debug.options.COLLECT_PERF_STATS = True`` (records flushed between runs).

Targets: stats on at most 1.05x no counters; trace at most 3x stats on.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys

# The scheduler benchmark's workloads, plus a case with many small rounds, where the statistics'
# per-round work shows most.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scheduler import WORKLOAD as SCHEDULER_WORKLOAD  # noqa: E402
from scheduler import Worker  # noqa: E402

WORKLOAD = (
    SCHEDULER_WORKLOAD
    + r'''
from asynq import debug, get_scheduler, profiler, stats, tracing

@asynq()
def item_chain(n):
    total = 0
    for i in range(n):
        total += yield KeyItem(i)
    return total

CASES["1k rounds of one item each"] = (lambda: item_chain(1000), 1000)


def strip_statistics():
    """A TaskScheduler subclass whose methods are the kernel's, minus the statistics code."""
    import ast, inspect, textwrap
    from asynq import scheduler as kernel

    removed = {"tasks += 1": 0, "before_round": 0, "after_batch_flush": 0, "perf_counter": 0}

    def is_stats(node):
        return isinstance(node, ast.Attribute) and node.attr == "stats"

    class Strip(ast.NodeTransformer):
        def visit_AugAssign(self, node):
            if isinstance(node.target, ast.Attribute) and is_stats(node.target.value):
                removed["tasks += 1"] += 1
                return ast.Pass()
            return node

        def visit_Expr(self, node):
            # The statistics instrument's hooks: stats.before_round(), stats.after_batch_flush(...)
            call = node.value
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("before_round", "after_batch_flush")
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "stats"
            ):
                removed[call.func.attr] += 1
                return ast.Pass()
            return self.generic_visit(node)

        def visit_Call(self, node):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "perf_counter":
                removed["perf_counter"] += 1
                return ast.Constant(0.0)
            return self.generic_visit(node)

    methods = {}
    for name in ("_run", "_block", "_schedule_root", "_flush_round"):
        source = textwrap.dedent(inspect.getsource(getattr(kernel.TaskScheduler, name)))
        tree = ast.fix_missing_locations(Strip().visit(ast.parse(source)))
        namespace = {}
        exec(compile(tree, f"<stripped {name}>", "exec"), vars(kernel), namespace)
        methods[name] = namespace[name]
    missing = [what for what, count in removed.items() if not count]
    if missing:
        raise SystemExit(f"the kernel changed: found no {missing} to strip")
    return type("NoStatsScheduler", (kernel.TaskScheduler,), methods), removed


NO_COUNTERS, _ = strip_statistics()
PLAIN = get_scheduler().__class__


def run_once(mode, fn):
    """Run ``fn`` once in ``mode``; returns the CPU seconds it took."""
    scheduler = get_scheduler()
    if mode == "no counters":
        scheduler.__class__ = NO_COUNTERS
    elif mode == "stats.disable()":
        stats.disable()
    elif mode == "profiler":
        debug.options.COLLECT_PERF_STATS = True
    gc.collect()
    start = time.process_time()
    if mode == "trace":
        with tracing.trace():
            fn()
    else:
        fn()
    elapsed = time.process_time() - start
    scheduler.__class__ = PLAIN
    stats.enable()
    debug.options.COLLECT_PERF_STATS = False
    profiler.flush()
    scheduler.stats.reset()
    return elapsed


print(json.dumps({"cases": {name: units for name, (_, units) in CASES.items()}}), flush=True)
for line in sys.stdin:  # "mode<TAB>case": run it once, answer with the CPU seconds it took
    mode, case = line.rstrip("\n").split("\t")
    print(run_once(mode, CASES[case][0]), flush=True)
'''
)

MODES = ["no counters", "stats on", "stats.disable()", "trace", "profiler"]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--workers", type=int, default=3, help="interpreters, taking turns")
    parser.add_argument("--json", help="also write the raw timings here")
    args = parser.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    workers = [Worker(sys.executable, repo, WORKLOAD) for _ in range(args.workers)]
    cases: dict[str, int] = workers[0].info["cases"]
    times: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    order = random.Random(0)
    for case in cases:
        for worker in workers:
            for mode in MODES:
                worker.run(mode, case)  # warm up
        for _ in range(args.repeat):
            for worker in workers:
                for mode in order.sample(MODES, len(MODES)):
                    times[mode].setdefault(case, []).append(worker.run(mode, case))
    for worker in workers:
        worker.close()

    med = {
        mode: {case: statistics.median(t) for case, t in by_case.items()}
        for mode, by_case in times.items()
    }
    print(
        f"Python {sys.version.split()[0]}; CPU time, median of {args.repeat} runs x "
        f"{args.workers} interpreters per mode, modes taking turns\n"
    )
    print(
        "| case | no counters (ms) | stats on (ms) | on / none | stats.disable() (ms) | "
        "trace (ms) | trace / on | profiler (ms) | profiler / on |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst_stats = worst_trace = 0.0
    for case in cases:
        bare, on = med["no counters"][case], med["stats on"][case]
        off, traced, prof = med["stats.disable()"][case], med["trace"][case], med["profiler"][case]
        worst_stats = max(worst_stats, on / bare)
        worst_trace = max(worst_trace, traced / on)
        print(
            f"| {case} | {bare * 1e3:.2f} | {on * 1e3:.2f} | {on / bare:.3f}x | {off * 1e3:.2f} | "
            f"{traced * 1e3:.2f} | {traced / on:.2f}x | {prof * 1e3:.2f} | {prof / on:.2f}x |"
        )
    print(f"\nworst stats on / no counters: {worst_stats:.3f}x (target: at most 1.05x)")
    print(f"worst trace / stats on: {worst_trace:.2f}x (target: at most 3x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(times, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The blog page on a real memcached: naive, by hand, priming, asynq, and asynq 1.6.0, side by side.

    python benchmarks/blog.py [--repeat 15] [--baseline-python PATH] [--json FILE]

A page shows 200 answers and the names of their 50 upvoters each (a few thousand distinct users).
The cache is warm. "by hand" is the floor: one pymemcache ``get_many`` per level. asynq 1.6.0 is
installed from the package index into a throwaway virtual environment (deleted at exit) unless
--baseline-python names a python that has it, and runs the same page with an equivalent batch
(a BatchBase whose flush is one pymemcache get_many), once with ``@async_proxy()`` model functions
and once with ``@asynq()`` ones. Each implementation runs in its own interpreter; they take turns,
one page at a time, so that they share whatever else the machine is doing; each turn starts one
case later than the one before, so that no case always runs right after the same other one.

Targets: asynq makes exactly 2 round trips and takes at most 1.5x the time of "by hand", with
leases on (meta gets, the default); "asynq, leases off" is the same page with classic gets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from asynq.demo import build_blog, make_data, seed_cache  # noqa: E402
from asynq.memcache import MemcacheClient, MemcachedServer  # noqa: E402

PREFIX = "bench:"

# Shared by both workers: the page written by hand with pymemcache (the floor), and a serde that
# reads what asynq's JsonSerializer wrote (text, ints, JSON).
COMMON = r"""
import gc, json, sys, time
from pymemcache.client.base import Client

class Serde:
    def serialize(self, key, value):
        raise NotImplementedError
    def deserialize(self, key, data, flags):
        if flags == 16:
            return data.decode()
        if flags == 256:
            return json.loads(data)
        if flags == 2:
            return int(data)
        return data

host, port, prefix, aids = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
raw = Client((host, port), serde=Serde(), no_delay=True, timeout=5)
trips = [0]

def by_hand(aids):
    lists = raw.get_many([f"{prefix}answers.upvoters:{aid}" for aid in aids])
    uid_lists = [lists[f"{prefix}answers.upvoters:{aid}"] for aid in aids]
    wanted = {uid for uids in uid_lists for uid in uids}
    names = raw.get_many([f"{prefix}users.name:{uid}" for uid in wanted])
    trips[0] += 2
    return [[names[f"{prefix}users.name:{uid}"] for uid in uids] for uids in uid_lists]

def serve(cases, reset, count):
    import asynq
    print(json.dumps({"version": getattr(asynq, "__version__", "1.6.0"), "file": asynq.__file__,
                      "cases": list(cases)}), flush=True)
    expected = None
    for line in sys.stdin:  # one case per line: run it once, answer with seconds and round trips
        run = cases[line.strip()]
        reset()
        gc.collect()
        start = time.perf_counter()
        page = run(aids)
        seconds = time.perf_counter() - start
        if expected is None:
            expected = page
        assert page == expected, line
        print(json.dumps([seconds, count()]), flush=True)
"""

OURS = (
    COMMON
    + r"""
from asynq.demo import build_blog, BlogData
from asynq.memcache import MemcacheClient

mc = MemcacheClient(f"{host}:{port}", key_prefix=prefix, read_timeout=5.0)
blog = build_blog(mc, BlogData(aids, {}, {}), raw)
# The same page with leases off: classic get/set instead of meta commands.
classic = MemcacheClient(f"{host}:{port}", key_prefix=prefix, read_timeout=5.0, leases=False)
classic_blog = build_blog(classic, BlogData(aids, {}, {}), raw)

def in_scope(page):
    def run(aids):
        with mc.request():
            return page(aids)
    return run

def reset():
    trips[0] = 0
    mc.stats.reset()
    classic.stats.reset()

serve(
    {
        "by hand": by_hand,
        "asynq": blog.variants["asynq"],
        "asynq, leases off": classic_blog.variants["asynq"],
        "priming": in_scope(blog.variants["priming"]),
        "naive": in_scope(blog.variants["naive"]),
    },
    reset,
    lambda: trips[0] + mc.stats.round_trips + classic.stats.round_trips,
)
"""
)

THEIRS = (
    COMMON
    + r"""
from asynq import BatchBase, BatchItemBase, async_proxy, asynq

class MemcacheBatch(BatchBase):
    def __init__(self):
        super().__init__()
        self.by_key = {}

    def _try_switch_active_batch(self):
        global ACTIVE
        if ACTIVE is self:
            ACTIVE = MemcacheBatch()

    def _flush(self):
        trips[0] += 1
        found = raw.get_many(list(self.by_key))
        for item in self.items:
            item.set_value(found.get(item.key))

    def _cancel(self):
        pass

ACTIVE = MemcacheBatch()

class MemcacheItem(BatchItemBase):
    def __init__(self, key):
        super().__init__(ACTIVE)
        self.key = key

def read(key):
    item = ACTIVE.by_key.get(key)
    if item is None:
        item = ACTIVE.by_key[key] = MemcacheItem(key)
    return item

@async_proxy()
def upvoters_proxy(aid):
    return read(f"{prefix}answers.upvoters:{aid}")

@async_proxy()
def name_proxy(uid):
    return read(f"{prefix}users.name:{uid}")

@asynq()
def upvoters_asynq(aid):
    return (yield read(f"{prefix}answers.upvoters:{aid}"))

@asynq()
def name_asynq(uid):
    return (yield read(f"{prefix}users.name:{uid}"))

def make_page(upvoters_of_answer, name_of_user):
    @asynq()
    def get_upvoter_names(aid):
        upvoter_uids = yield upvoters_of_answer.asynq(aid)
        return (yield [name_of_user.asynq(uid) for uid in upvoter_uids])

    @asynq()
    def page(aids):
        return (yield [get_upvoter_names.asynq(aid) for aid in aids])

    return page

def reset():
    trips[0] = 0

serve(
    {
        "by hand": by_hand,
        "asynq 1.6.0, @async_proxy() model functions": make_page(upvoters_proxy, name_proxy),
        "asynq 1.6.0, @asynq() model functions": make_page(upvoters_asynq, name_asynq),
    },
    reset,
    lambda: trips[0],
)
"""
)


class Worker:
    """A child interpreter that runs one page per request and answers (seconds, round trips)."""

    def __init__(self, python: str, code: str, cwd: str, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [python, "-c", code, *args],
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

    def run(self, case: str) -> tuple[float, int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(case + "\n")
        self.proc.stdin.flush()
        seconds, trips = json.loads(self._read())
        return seconds, trips

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def make_baseline(tmp: str) -> str | None:
    print("installing asynq==1.6.0 into a throwaway virtual environment ...", file=sys.stderr)
    venv.create(tmp, with_pip=True)
    python = os.path.join(tmp, "bin", "python")
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "asynq==1.6.0", "pymemcache==4.0.0"],
        stdout=subprocess.DEVNULL,
    )
    return python if done.returncode == 0 else None


def _paired_ratio(times: dict[str, list[float]], label: str) -> float:
    """Median over runs of (this run / the "by hand" run of the same interpreter in the same
    turn): the machine's load drifts, and runs of one turn share it."""
    floor = times["by hand (theirs)" if label.startswith("asynq 1.6.0") else "by hand (ours)"]
    if label == "by hand (theirs)":
        floor = times["by hand (ours)"]
    return statistics.median(t / f for t, f in zip(times[label], floor, strict=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--naive-repeat", type=int, default=3)
    parser.add_argument("--baseline-python", help="a python that has asynq 1.6.0 installed")
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--upvoters", type=int, default=50)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--json", help="also write the raw timings here")
    args = parser.parse_args()

    data = make_data(args.answers, args.upvoters, args.users)
    distinct = len({u for a in data.answers for u in data.upvoters[a]})
    with (
        MemcachedServer(memory_mb=256) as server,
        tempfile.TemporaryDirectory(prefix="asynq16-") as tmp,
    ):
        mc = MemcacheClient(server.address, key_prefix=PREFIX)
        blog = build_blog(mc, data)
        seed_cache(blog)
        blog.close()
        worker_args = [server.host, str(server.port), PREFIX, json.dumps(data.answers)]
        baseline = args.baseline_python or make_baseline(tmp)
        workers = {"ours": Worker(sys.executable, OURS, ROOT, worker_args)}
        if baseline:
            # The baseline runs from a neutral directory so that it cannot import this checkout.
            workers["theirs"] = Worker(baseline, THEIRS, tmp, worker_args)
        else:
            print("could not install asynq 1.6.0: its rows are missing", file=sys.stderr)
        cases = [(name, case) for name, w in workers.items() for case in w.info["cases"]]
        times: dict[str, list[float]] = {}
        trips: dict[str, int] = {}
        for name, case in cases:  # warm up
            workers[name].run(case)
        for i in range(args.repeat):
            # Each turn starts one case later: a case's place in the turn (right after which
            # other case it runs) changes its time by more than the differences measured.
            shift = i % len(cases)
            for name, case in cases[shift:] + cases[:shift]:
                if case == "naive" and i >= args.naive_repeat:
                    continue
                seconds, count = workers[name].run(case)
                label = f"{case} ({name})" if case == "by hand" else case
                times.setdefault(label, []).append(seconds)
                trips[label] = count
        for worker in workers.values():
            worker.close()
        version = subprocess.run(
            ["memcached", "-V"], capture_output=True, text=True, check=False
        ).stdout.strip()

    keys = len(data.answers) + distinct
    print(f"{version} on 127.0.0.1, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"page: {len(data.answers)} answers x {args.upvoters} upvoters, {distinct} distinct users, "
        f"{keys} keys, warm cache; median of {args.repeat} runs ({args.naive_repeat} for naive), "
        "implementations taking turns; 'vs by hand' is the median of each run's ratio to the "
        "by-hand run of the same interpreter and turn\n"
    )
    print("| variant | round trips | median (ms) | vs by hand |")
    print("|---|---:|---:|---:|")
    order = [
        "by hand (ours)",
        "asynq",
        "asynq, leases off",
        "priming",
        "naive",
        "asynq 1.6.0, @async_proxy() model functions",
        "asynq 1.6.0, @asynq() model functions",
        "by hand (theirs)",
    ]
    for label in order:
        if label not in times:
            continue
        median = statistics.median(times[label])
        ratio = _paired_ratio(times, label)
        shown = {
            "by hand (ours)": "by hand (pymemcache get_many per level)",
            "by hand (theirs)": "by hand, in the asynq 1.6.0 interpreter",
        }.get(label, label)
        print(f"| {shown} | {trips[label]} | {median * 1e3:.1f} | {ratio:.2f}x |")
    ratio = _paired_ratio(times, "asynq")
    print(
        f"\nasynq: {trips['asynq']} round trips, {ratio:.2f}x by hand (target: 2 and at most 1.50x)"
        f"; with leases off {_paired_ratio(times, 'asynq, leases off'):.2f}x"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"times": times, "trips": trips, "when": time.time()}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

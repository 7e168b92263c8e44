"""Loaders and concurrent batches against real backends, with their baselines, in one run.

    python benchmarks/loaders.py [--repeat 15] [--server process|thread]

1. Per-key HTTP calls: a local server on 127.0.0.1 answers each ``GET`` after 50 ms (by default
   in a child process, like a remote API, so that its work does not share this interpreter's
   GIL; ``--server thread`` runs it in a thread as the example does). One call; 100 calls one
   after another; 100 calls as one round of a ``@concurrent_batch()`` with 16 and 100 workers;
   16 calls with 16 workers (one wave). A round of N calls on W workers costs ``ceil(N / W)``
   waves, so the ratio that says how well the pool works is the one per wave. Control rows run a
   plain ``time.sleep(0.05)`` per key, without HTTP.
2. The blog page (200 answers, each with its author and 50 upvoters' names, ~2,000 distinct users):
   SQLite loaders against the two queries written by hand and the naive N+1; the same page on
   memcached through ``asynq.memcache`` (warm: every key present) when ``memcached`` is installed.

Each row is the median of ``--repeat`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from asynq import asynq, get_scheduler  # noqa: E402
from asynq.loaders import concurrent_batch  # noqa: E402
from examples.http_concurrent.main import (  # noqa: E402
    concurrent_fetch,
    delay_server,
    fetch_all,
    fetch_all_naive,
    fetch_item,
)
from examples.sqlite_blog import main as blog  # noqa: E402

DELAY = 0.05

SERVE = """
import sys
sys.path.insert(0, {root!r})
from examples.http_concurrent.main import DelayServer
server = DelayServer({delay!r})
print(server.url, flush=True)
server.serve_forever(0.05)
"""


def median_ms(run: Callable[[], Any], repeat: int) -> float:
    run()  # warm up: thread pools, connections, caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@contextlib.contextmanager
def http_server(mode: str) -> Iterator[str]:
    if mode == "thread":
        with delay_server(DELAY) as server:
            yield server.url
        return
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE.format(root=ROOT, delay=DELAY)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.terminate()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


def bench_http(repeat: int, mode: str) -> list[tuple[str, float, int, float]]:
    """Rows of (case, median ms, waves, ms of one call) for the per-key calls."""
    rows = []
    with http_server(mode) as url:
        one = median_ms(lambda: fetch_item(url, "k0"), repeat)
        rows.append(("1 call", one, 1, one))
        keys = [f"k{i}" for i in range(100)]
        rows.append(
            (
                "100 calls, one after another",
                median_ms(lambda: fetch_all_naive(url, keys), 3),
                100,
                one,
            )
        )
        for calls, workers in [(100, 16), (16, 16), (100, 100)]:
            fetch = concurrent_fetch(workers)
            try:
                subset = keys[:calls]
                ms = median_ms(lambda: fetch_all(fetch, url, subset), repeat)  # noqa: B023
            finally:
                fetch.shutdown()
            rows.append(
                (
                    f"{calls} calls, concurrent batch, {workers} workers",
                    ms,
                    math.ceil(calls / workers),
                    one,
                )
            )

    def sleep(key: int) -> int:
        time.sleep(DELAY)
        return key

    one_sleep = DELAY * 1000
    for calls, workers in [(100, 16), (100, 100)]:
        napper = concurrent_batch(max_workers=workers, name="sleep")(sleep)

        @asynq()
        def naps(n: int) -> Any:
            return (yield [napper.asynq(i) for i in range(n)])  # noqa: B023

        try:
            ms = median_ms(lambda: naps(calls), repeat)  # noqa: B023
        finally:
            napper.shutdown()
        rows.append(
            (
                f"control: {calls} sleeps(50 ms), {workers} workers",
                ms,
                math.ceil(calls / workers),
                one_sleep,
            )
        )
    return rows


def bench_blog(repeat: int) -> list[tuple[str, float, str]]:
    """Rows of (variant, median ms, requests per page) for the blog page."""
    conn = blog.create_db()
    log = blog.QueryLog(conn)
    answer_ids = list(range(1, 201))
    expected = blog.render_page_by_hand(conn, answer_ids)
    rows = []
    for label, run in [
        ("SQLite, asynq loaders", lambda: blog.render_page(blog.Blog(conn), answer_ids)),
        ("SQLite, hand-written 2 queries", lambda: blog.render_page_by_hand(conn, answer_ids)),
        ("SQLite, naive N+1", lambda: blog.render_page_naive(conn, answer_ids)),
    ]:
        log.clear()
        get_scheduler().stats.reset()
        assert run() == expected
        queries = len(log.statements)
        rounds = get_scheduler().stats.rounds
        ms = median_ms(run, repeat if "naive" not in label else 3)
        what = f"{queries} queries" + (f", {rounds} rounds" if rounds else "")
        rows.append((label, ms, what))
    memcache = bench_blog_memcache(conn, answer_ids, expected, repeat)
    conn.close()
    return rows + memcache


def bench_blog_memcache(
    conn: Any, answer_ids: list[int], expected: list[Any], repeat: int
) -> list[tuple[str, float, str]]:
    """The same page through asynq.memcache's cached functions, warm (all keys in memcached)."""
    if shutil.which("memcached") is None:
        print("memcached is not installed: the memcache variant is left out", file=sys.stderr)
        return []
    from asynq.memcache import MemcacheClient, MemcachedServer

    with MemcachedServer() as server:
        mc = MemcacheClient(f"127.0.0.1:{server.port}")

        @mc.cached("bench.answer")
        def answer(aid: int) -> Any:
            a = blog.select_answers(conn, [aid])[aid]
            return {"id": a.id, "text": a.text, "author_id": a.author_id, "upvoters": a.upvoter_ids}

        @mc.cached("bench.user_name")
        def user_name(uid: int) -> str:
            return blog.select_users(conn, [uid])[uid].name

        @asynq()
        def render_answer(aid: int) -> Any:
            a = yield answer.asynq(aid)
            author, upvoters = yield (
                user_name.asynq(a["author_id"]),
                [user_name.asynq(u) for u in a["upvoters"]],
            )
            return {"id": a["id"], "text": a["text"], "author": author, "upvoters": upvoters}

        @asynq()
        def render_page(aids: list[int]) -> Any:
            return (yield [render_answer.asynq(aid) for aid in aids])

        assert render_page(answer_ids) == expected  # fills memcached
        mc.stats.reset()
        assert render_page(answer_ids) == expected
        trips = mc.stats.round_trips
        ms = median_ms(lambda: render_page(answer_ids), repeat)
        mc.close()
    return [("memcached, asynq.memcache cached functions (warm)", ms, f"{trips} round trips")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--server", choices=["process", "thread"], default="process")
    args = parser.parse_args()

    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), median of {args.repeat} runs\n"
    )
    print(f"Per-key calls, {DELAY * 1000:.0f} ms each (HTTP server in a {args.server}):\n")
    print("| case | median (ms) | x one call | waves | x (waves x one call) |")
    print("|---|---:|---:|---:|---:|")
    rows = bench_http(args.repeat, args.server)
    for case, ms, waves, one in rows:
        print(f"| {case} | {ms:.1f} | {ms / one:.2f} | {waves} | {ms / (waves * one):.2f} |")
    by_case = {case: (ms, waves, one) for case, ms, waves, one in rows}
    ms, waves, one = by_case["100 calls, concurrent batch, 16 workers"]
    print(
        f"\n16 workers, 100 calls: {ms / one:.2f}x one call; a pool of 16 runs them in ceil(100/16) = "
        f"{waves} waves, about {waves} call latencies; per wave {ms / (waves * one):.2f}x"
    )
    ms, waves, one = by_case["16 calls, concurrent batch, 16 workers"]
    print(f"16 workers, one wave of 16 calls: {ms / one:.2f}x one call (target: at most 1.5x)")
    print("\nThe blog page, 200 answers x 50 upvoters:\n")
    print("| variant | median (ms) | requests | x hand-written |")
    print("|---|---:|---|---:|")
    blog_rows = bench_blog(args.repeat)
    hand = next(ms for label, ms, _ in blog_rows if "hand-written" in label)
    for label, ms, what in blog_rows:
        print(f"| {label} | {ms:.1f} | {what} | {ms / hand:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

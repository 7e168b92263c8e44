"""The story asynq was written for, on generated data: ``python -m asynq`` (or ``asynq``).

A page shows 200 answers, and under each the names of its 50 upvoters. Both the upvoter lists and
the names live in memcached. Read naively, that is one round trip per key; with legacy priming
or with asynq it is one multi-get per level of the dependency graph: two round trips.

The demo starts ``memcached`` on a free loopback port if the binary is on PATH (and stops it at
exit), uses ``--servers host:port`` if given, and otherwise the embedded in-process store. It
seeds the cache, runs each variant (warm) and prints round trips, keys and time, next to code
written by hand with one ``get_many`` per level.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pymemcache.client.base import Client as PymemcacheClient

from . import priming
from .decorators import asynq
from .memcache import EmbeddedMemcached, JsonSerializer, MemcacheClient, MemcachedServer
from .memcache.server import memcached_available

__all__ = ["BlogData", "make_data", "Blog", "build_blog", "main"]

_FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Leslie", "Tony"]
_LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]


@dataclass
class BlogData:
    """Generated content: ``upvoters[aid]`` lists user ids, ``names[uid]`` is a display name."""

    answers: list[int]
    upvoters: dict[int, list[int]]
    names: dict[int, str]


def make_data(answers: int = 200, upvoters: int = 50, users: int = 3000, seed: int = 1) -> BlogData:
    """Answers with distinct upvoters drawn from ``users`` users (a few thousand distinct)."""
    rng = random.Random(seed)
    names = {uid: f"{rng.choice(_FIRST)} {rng.choice(_LAST)} #{uid}" for uid in range(users)}
    aids = list(range(1, answers + 1))
    return BlogData(aids, {aid: rng.sample(range(users), upvoters) for aid in aids}, names)


@dataclass
class Blog:
    """The model functions and the page, written four ways, on one client."""

    mc: MemcacheClient
    data: BlogData
    variants: dict[str, Callable[[list[int]], list[list[str]]]] = field(default_factory=dict)
    db_reads: int = 0
    raw: PymemcacheClient | None = None

    def close(self) -> None:
        """Close the connections of both clients."""
        if self.raw is not None:
            self.raw.close()
        self.mc.close()


def build_blog(mc: MemcacheClient, data: BlogData, raw: PymemcacheClient | None = None) -> Blog:
    """Cached model functions and the page: naive, hand-written, priming and asynq."""
    blog = Blog(mc, data)

    @mc.cached("answers.upvoters")
    def upvoters_of_answer(aid: int) -> list[int]:
        blog.db_reads += 1
        return data.upvoters[aid]

    @mc.cached("users.name")
    def name_of_user(uid: int) -> str:
        blog.db_reads += 1
        return data.names[uid]

    # asynq: each function says what it needs; the scheduler batches each level.
    @asynq()
    def get_upvoter_names(aid: int) -> Any:
        upvoter_uids = yield upvoters_of_answer.asynq(aid)
        return (yield [name_of_user.asynq(uid) for uid in upvoter_uids])

    @asynq()
    def page_asynq(aids: list[int]) -> Any:
        return (yield [get_upvoter_names.asynq(aid) for aid in aids])

    # Legacy priming: a twin of every reader records what it will read.
    prime_name_of_user = name_of_user.prime

    @priming.generator
    def prime_upvoter_names(aid: int) -> Any:
        upvoters_of_answer.prime(aid)
        yield
        for uid in upvoters_of_answer(aid):
            prime_name_of_user(uid)

    def page_priming(aids: list[int]) -> list[list[str]]:
        for aid in aids:
            prime_upvoter_names(aid)
        return [[name_of_user(uid) for uid in upvoters_of_answer(aid)] for aid in aids]

    # Naive: plain reads, one round trip per key.
    def page_naive(aids: list[int]) -> list[list[str]]:
        return [[name_of_user(uid) for uid in upvoters_of_answer(aid)] for aid in aids]

    # By hand: one get_many per level with pymemcache, no framework (the floor).
    hand_client = blog.raw = raw or _raw_client(mc)

    def page_by_hand(aids: list[int]) -> list[list[str]]:
        lists = hand_client.get_many([upvoters_of_answer.key(aid) for aid in aids])
        uid_lists = [lists[upvoters_of_answer.key(aid)] for aid in aids]
        wanted = {uid for uids in uid_lists for uid in uids}
        names = hand_client.get_many([name_of_user.key(uid) for uid in wanted])
        return [[names[name_of_user.key(uid)] for uid in uids] for uids in uid_lists]

    blog.variants = {
        "naive": page_naive,
        "priming": page_priming,
        "asynq": page_asynq,
        "by hand": page_by_hand,
    }
    return blog


def _raw_client(mc: MemcacheClient) -> PymemcacheClient:
    host, _, port = mc.servers[0].rpartition(":")
    return PymemcacheClient((host, int(port)), serde=JsonSerializer(), no_delay=True)


def expected_page(data: BlogData, aids: list[int]) -> list[list[str]]:
    """What every variant must return."""
    return [[data.names[uid] for uid in data.upvoters[aid]] for aid in aids]


def seed_cache(blog: Blog, progress: Callable[[int, int], None] | None = None) -> int:
    """Write every upvoter list and name to memcached; returns how many keys were written."""
    data = blog.data
    mc = blog.mc
    items: list[tuple[str, Any]] = [
        (f"answers.upvoters:{aid}", data.upvoters[aid]) for aid in data.answers
    ]
    items += [(f"users.name:{uid}", name) for uid, name in data.names.items()]
    chunk = 250
    for start in range(0, len(items), chunk):
        failed = mc.set_many(dict(items[start : start + chunk]))
        if failed:
            raise RuntimeError(f"memcached refused {len(failed)} keys while seeding: {failed[:3]}")
        if progress is not None:
            progress(min(start + chunk, len(items)), len(items))
    return len(items)


def _progress_bar(stream: Any) -> Callable[[int, int], None]:
    interactive = stream.isatty()

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        bar = "#" * filled + "-" * (width - filled)
        line = f"seeding the cache [{bar}] {done}/{total} keys"
        if interactive:
            stream.write("\r" + line + ("\n" if done == total else ""))
        elif done == total:
            stream.write(line + "\n")
        stream.flush()

    return show


@dataclass
class Measurement:
    """One variant: round trips and keys per page, median seconds, and the page it returned."""

    round_trips: int
    keys: int
    seconds: float


def measure(blog: Blog, name: str, repeat: int) -> Measurement:
    """Run one variant ``repeat`` times warm, each in its own request scope."""
    return measure_all(blog, [name], repeat)[name]


def measure_all(
    blog: Blog, names: list[str], repeat: int, once: tuple[str, ...] = ()
) -> dict[str, Measurement]:
    """Run the variants warm, taking turns (``once`` ones only in the first turn), each page in
    its own request scope; medians per variant."""
    mc = blog.mc
    expected = expected_page(blog.data, blog.data.answers)
    times: dict[str, list[float]] = {name: [] for name in names}
    counts: dict[str, tuple[int, int]] = {}
    for turn in range(repeat):
        for name in names:
            if turn and name in once:
                continue
            page = blog.variants[name]
            mc.stats.reset()
            gc.collect()  # every variant starts with the same, clean heap
            started = time.perf_counter()
            with mc.request():
                result = page(blog.data.answers)
            times[name].append(time.perf_counter() - started)
            if result != expected:
                raise AssertionError(f"the {name} page differs from the expected page")
            if name == "by hand":  # pymemcache's own get_many: two, for all the keys
                counts[name] = (2, len(blog.data.answers) + _distinct_users(blog.data))
            else:
                counts[name] = (mc.stats.round_trips, mc.stats.keys_requested)
            priming.end_request()
    return {name: Measurement(*counts[name], statistics.median(times[name])) for name in names}


def _distinct_users(data: BlogData) -> int:
    return len({uid for aid in data.answers for uid in data.upvoters[aid]})


@contextlib.contextmanager
def _server(servers: str | None, out: Any) -> Iterator[str]:
    if servers:
        out.write(f"memcached: using {servers} (--servers)\n")
        yield servers
        return
    if memcached_available():
        with MemcachedServer() as server:
            version = _version(server.port)
            out.write(f"memcached: started {version} on {server.address} (stopped at exit)\n")
            yield server.address
        return
    with EmbeddedMemcached() as embedded:
        out.write(
            f"memcached: binary not found, using the embedded in-process store on "
            f"{embedded.address}\n"
        )
        yield embedded.address


def _version(port: int) -> str:
    client = PymemcacheClient(("127.0.0.1", port), timeout=2)
    try:
        return "memcached " + client.version().decode()
    finally:
        client.close()


_DESCRIPTION = """\
Run the asynq demo: a page of answers, each with the names of its upvoters, read from memcached
four ways (naive, legacy priming, asynq, and by hand with one get_many per level), printing round
trips, keys and time for each.

Without --servers it starts the memcached binary on a free port of 127.0.0.1 (stopped at exit),
or, when memcached is not installed, an in-process store; it says which."""

_EPILOG = """\
examples:
  asynq                          the default page: 200 answers x 50 upvoters
  asynq --servers 127.0.0.1:11211
  asynq --answers 20 --trace out/
"""


def _parser() -> argparse.ArgumentParser:
    """The demo's command line (``asynq`` and ``python -m asynq``)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="asynq",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    parser.add_argument(
        "--servers",
        metavar="HOST:PORT",
        help="use this memcached instead of starting one (its keys get the prefix asynq-demo:)",
    )
    parser.add_argument(
        "--answers", type=int, default=200, metavar="N", help="answers on the page (default 200)"
    )
    parser.add_argument(
        "--upvoters",
        type=int,
        default=50,
        metavar="N",
        help="upvoters of each answer (default 50; at most --users)",
    )
    parser.add_argument(
        "--users",
        type=int,
        default=3000,
        metavar="N",
        help="distinct users the upvoters are drawn from (default 3000)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        metavar="N",
        help="warm runs of each variant; the median time is shown (default 5)",
    )
    parser.add_argument(
        "--trace",
        metavar="DIR",
        help="also trace one asynq page and write a Chrome trace and a Graphviz picture to DIR",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.upvoters > args.users:
        parser.error(f"--upvoters ({args.upvoters}) cannot exceed --users ({args.users})")
    out = sys.stdout
    data = make_data(args.answers, args.upvoters, args.users)
    distinct = _distinct_users(data)
    out.write(
        f"asynq demo: a page of {len(data.answers)} answers x {args.upvoters} upvoters "
        f"({distinct} distinct users of {args.users})\n"
    )
    with _server(args.servers, out) as address:
        mc = MemcacheClient(address, key_prefix="asynq-demo:", read_timeout=5.0)
        raw = PymemcacheClient(
            tuple(_split(address)), serde=JsonSerializer(), no_delay=True, timeout=5.0
        )
        blog = build_blog(mc, data, raw)
        seed_cache(blog, _progress_bar(out))
        results = measure_all(
            blog, ["by hand", "asynq", "priming", "naive"], args.repeat, once=("naive",)
        )
        traced = _trace_page(blog, args.trace) if args.trace else []
        blog.close()
    floor = results["by hand"].seconds
    out.write("\n")
    out.write(
        f"{'variant':<10} {'round trips':>11} {'keys':>6} {'time (ms)':>10} {'vs by hand':>11}\n"
    )
    for name in ("naive", "priming", "asynq", "by hand"):
        m = results[name]
        out.write(
            f"{name:<10} {m.round_trips:>11} {m.keys:>6} {m.seconds * 1000:>10.1f} "
            f"{m.seconds / floor:>10.2f}x\n"
        )
    out.write(
        "\nnaive: one round trip per key. priming: hand-written prime_* twins fetch each level "
        "in one multi-get.\nasynq: the same two multi-gets, from code that just says what it "
        "needs (`yield f.asynq(x)`).\nby hand: one get_many per level written out with "
        "pymemcache, the floor. Times are medians of warm runs.\n"
    )
    for path in traced:
        out.write(f"trace written: {path}\n")
    return 0


def _trace_page(blog: Blog, out_dir: str) -> list[str]:
    """Trace one warm asynq page and write its Chrome trace and picture into ``out_dir``."""
    from .tracing import trace, write_trace_files

    with trace() as recorded:
        blog.variants["asynq"](blog.data.answers)
    return write_trace_files(recorded, out_dir)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


if __name__ == "__main__":
    raise SystemExit(main())

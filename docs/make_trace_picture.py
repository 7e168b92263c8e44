"""Draw docs/images/trace.svg: the dependency graph of a small page, as traced.

    python docs/make_trace_picture.py [--out docs/images] [--all] [--answers N --upvoters M]

The page is the demo's workload (``python -m asynq.demo``) in miniature: for each answer, the
upvoters' ids, then each upvoter's name, read through two loaders that stand in for the demo's two
memcache namespaces; each call sleeps a millisecond, standing in for the network round trip. With
``--all`` the script also writes the Chrome trace (trace.json) and the DOT source. ``--answers`` and
``--upvoters`` trace a generated page of that size instead (1 + answers x (2 + upvoters) tasks), to
see which picture larger traces get.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from asynq import asynq
from asynq.loaders import loader
from asynq.tracing import Trace, trace, write_trace_files

UPVOTERS = {1: [10, 11, 12], 2: [11, 13], 3: [10, 12, 14]}
NAMES = {10: "ada", 11: "grace", 12: "edsger", 13: "barbara", 14: "alan"}
ROUND_TRIP = 0.001


@loader(cache=False)
def upvoters_table(answer_ids: list[int]) -> list[list[int]]:
    time.sleep(ROUND_TRIP)
    return [UPVOTERS[a] for a in answer_ids]


@loader(cache=False)
def names_table(user_ids: list[int]) -> list[str]:
    time.sleep(ROUND_TRIP)
    return [NAMES[u] for u in user_ids]


@asynq()
def upvoters_of_answer(aid: int) -> Any:
    uids = yield upvoters_table.asynq(aid)
    return uids


@asynq()
def name_of_user(uid: int) -> Any:
    name = yield names_table.asynq(uid)
    return name


@asynq()
def get_upvoter_names(aid: int) -> Any:
    uids = yield upvoters_of_answer.asynq(aid)
    names = yield [name_of_user.asynq(uid) for uid in uids]
    return names


@asynq()
def page(aids: list[int]) -> Any:
    names = yield [get_upvoter_names.asynq(aid) for aid in aids]
    return names


def record(answers: int | None = None, upvoters: int = 3) -> Trace:
    """Trace one rendering of the page for answers 1, 2 and 3, or of a generated page."""
    aids = [1, 2, 3]
    if answers is not None:
        UPVOTERS.clear()
        NAMES.clear()
        for aid in range(answers):
            UPVOTERS[aid] = [1000 + (aid * 7 + j) % 3000 for j in range(upvoters)]
        NAMES.update({uid: f"user{uid}" for uid in range(1000, 4000)})
        aids = list(range(answers))
    with trace() as t:
        page(aids)
    return t


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "images"))
    parser.add_argument("--all", action="store_true", help="also write trace.json and trace.dot")
    parser.add_argument("--answers", type=int, help="trace a generated page of this many answers")
    parser.add_argument("--upvoters", type=int, default=3, help="upvoters per generated answer")
    args = parser.parse_args()
    t = record(args.answers, args.upvoters)
    os.makedirs(args.out, exist_ok=True)
    if args.all:
        paths = write_trace_files(t, args.out)
    else:
        paths = [t.write_svg(os.path.join(args.out, "trace.svg"))]
    print(t.summary())
    for path in paths:
        print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

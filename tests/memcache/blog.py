"""The blog story on a client: answers, their upvoters and the upvoters' names.

``build(mc)`` returns the cached model functions and the three versions of the page (asynq,
priming, naive) so that tests can compare their results and round trips.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from asynq import asynq, priming
from asynq.memcache import MemcacheClient


@dataclass
class Blog:
    mc: MemcacheClient
    answers: list[int]
    upvoters: dict[int, list[int]]
    db_reads: list[Any] = field(default_factory=list)
    fns: dict[str, Any] = field(default_factory=dict)


def build(mc: MemcacheClient, answers: int = 6, upvoters: int = 4, users: int = 10) -> Blog:
    rng = random.Random(7)
    blog = Blog(
        mc,
        list(range(1, answers + 1)),
        {a: rng.sample(range(users), upvoters) for a in range(1, answers + 1)},
    )

    @mc.cached("answers.upvoters")
    def upvoters_of_answer(aid: int) -> list[int]:
        blog.db_reads.append(("upvoters", aid))
        return blog.upvoters[aid]

    @mc.cached("users.name")
    def name_of_user(uid: int) -> str:
        blog.db_reads.append(("name", uid))
        return f"user {uid}"

    @asynq()
    def get_upvoter_names(aid: int) -> Any:
        uids = yield upvoters_of_answer.asynq(aid)
        return (yield [name_of_user.asynq(uid) for uid in uids])

    @asynq()
    def page_asynq(aids: list[int]) -> Any:
        return (yield [get_upvoter_names.asynq(aid) for aid in aids])

    @priming.generator
    def prime_upvoter_names(aid: int) -> Any:
        upvoters_of_answer.prime(aid)
        yield
        for uid in upvoters_of_answer(aid):
            prime_name_of_user(uid)

    prime_name_of_user = name_of_user.prime

    def prime_page(aids: list[int]) -> None:
        for aid in aids:
            prime_upvoter_names(aid)

    def page_priming(aids: list[int]) -> Any:
        prime_page(aids)
        return [[name_of_user(uid) for uid in upvoters_of_answer(aid)] for aid in aids]

    def page_naive(aids: list[int]) -> Any:
        return [[name_of_user(uid) for uid in upvoters_of_answer(aid)] for aid in aids]

    blog.fns = {
        "upvoters_of_answer": upvoters_of_answer,
        "name_of_user": name_of_user,
        "page_asynq": page_asynq,
        "page_priming": page_priming,
        "page_naive": page_naive,
    }
    return blog


def expected_page(blog: Blog) -> list[list[str]]:
    return [[f"user {uid}" for uid in blog.upvoters[aid]] for aid in blog.answers]

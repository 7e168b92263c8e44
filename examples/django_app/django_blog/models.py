"""Model functions, laid out as in the README: one module-level client, cached functions on it.

The dictionaries stand in for the database; ``DB_READS`` counts how often each was read, which is
what the cache saves.
"""

import os
from collections import Counter

from asynq import asynq
from asynq.memcache import MemcacheClient

mc = MemcacheClient(os.environ.get("MEMCACHED", "127.0.0.1:11211"), key_prefix="django-blog:")

USERS = {1: "Ada", 2: "Alan", 3: "Grace"}
UPVOTERS = {10: [1, 2], 11: [2, 3]}
DB_READS: Counter = Counter()


@mc.cached("name_of_user")
def name_of_user(uid):
    DB_READS["users"] += 1
    return USERS[uid]


@mc.cached("upvoters_of_answer")
def upvoters_of_answer(aid):
    DB_READS["upvoters"] += 1
    return UPVOTERS[aid]


@asynq()
def upvoter_names(aid):
    uids = yield upvoters_of_answer.asynq(aid)
    return (yield [name_of_user.asynq(uid) for uid in uids])


@asynq()
def answer_cards(aids):
    names = yield [upvoter_names.asynq(aid) for aid in aids]
    return [{"answer": aid, "upvoters": upvoters} for aid, upvoters in zip(aids, names, strict=True)]

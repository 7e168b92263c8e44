"""Fixtures for the asyncio tests: a real memcached, a minimal batched reader over pymemcache's
``get_many`` that records every multi-get, and a small blog model on top of it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

import pytest
from pymemcache.client.base import Client

from asynq import BatchBase, BatchItemBase, asynq
from asynq.decorators import AsyncDecorator
from asynq.memcache import MemcachedServer


@pytest.fixture(scope="session")
def memcached() -> Iterator[MemcachedServer]:
    """One memcached process on 127.0.0.1 for the whole session (UDP off)."""
    with MemcachedServer() as server:
        yield server


class _JsonSerde:
    def serialize(self, key: str, value: Any) -> tuple[bytes, int]:
        return json.dumps(value).encode(), 0

    def deserialize(self, key: str, data: bytes, flags: int) -> Any:
        return json.loads(data)


class MultiGets:
    """Batched reads over pymemcache: every flush is one ``get_many``, recorded in ``rounds``.

    ``delay`` seconds of blocking sleep are added to each flush, to make flushes slow on purpose.
    """

    def __init__(self, address: str, delay: float = 0.0) -> None:
        host, port = address.rsplit(":", 1)
        self.client = Client((host, int(port)), serde=_JsonSerde(), connect_timeout=2, timeout=2)
        self.delay = delay
        self.rounds: list[list[str]] = []
        self.flush_threads: list[str] = []
        self.active = _MultiGetBatch(self)

    def get(self, key: str) -> _GetItem:
        """A batch item whose value is ``key``'s stored value (None on a miss)."""
        return _GetItem(self, key)

    def seed(self, values: dict[str, Any]) -> None:
        self.client.set_many(values, noreply=False)


class _MultiGetBatch(BatchBase["_GetItem"]):
    def __init__(self, reads: MultiGets) -> None:
        super().__init__()
        self.reads = reads

    def _try_switch_active_batch(self) -> None:
        if self.reads.active is self:
            self.reads.active = _MultiGetBatch(self.reads)

    def _flush(self) -> None:
        reads = self.reads
        keys = list(dict.fromkeys(item.key for item in self.items))
        reads.rounds.append(keys)
        reads.flush_threads.append(threading.current_thread().name)
        if reads.delay:
            time.sleep(reads.delay)
        found = reads.client.get_many(keys)
        for item in self.items:
            item.set_value(found.get(item.key))


class _GetItem(BatchItemBase):
    def __init__(self, reads: MultiGets, key: str) -> None:
        super().__init__(reads.active)
        self.key = key


@pytest.fixture
def multi_gets(memcached: MemcachedServer) -> Iterator[Callable[..., MultiGets]]:
    """A factory of ``MultiGets`` readers on the session's memcached (closed after the test)."""
    made: list[MultiGets] = []

    def make(delay: float = 0.0) -> MultiGets:
        reads = MultiGets(memcached.address, delay)
        made.append(reads)
        return reads

    yield make
    for reads in made:
        reads.client.close()


ANSWERS = 20
USERS = 40
UPVOTERS = 5


def answer_record(aid: int) -> dict[str, Any]:
    """What memcached holds for answer ``aid``: its author, upvoters and comments."""
    return {
        "author": aid % USERS,
        "upvoters": [(aid * 7 + i * 3) % USERS for i in range(UPVOTERS)],
        "comments": [aid * 10 + i for i in range(2)],
    }


def user_name(uid: int) -> str:
    return f"user{uid}"


class Blog:
    """Model functions over memcached, written once, batched wherever they run.

    The static methods say what the tests should expect.
    """

    def __init__(self, reads: MultiGets) -> None:
        self.reads = reads

    answer_record = staticmethod(answer_record)
    user_name = staticmethod(user_name)

    @staticmethod
    def expected_render(aid: int) -> str:
        record = answer_record(aid)
        upvoters = ", ".join(user_name(uid) for uid in record["upvoters"])
        return f"answer {aid} by {user_name(record['author'])}, upvoted by {upvoters}"

    @staticmethod
    def user_keys(aids: Iterable[int]) -> list[str]:
        """The user keys that rendering these answers reads (authors and upvoters), sorted."""
        uids: set[int] = set()
        for aid in aids:
            record = answer_record(aid)
            uids.add(record["author"])
            uids.update(record["upvoters"])
        return sorted(f"user:{uid}" for uid in uids)

    @asynq()
    def answer(self, aid: int) -> Generator[Any, Any, dict[str, Any]]:
        return (yield self.reads.get(f"answer:{aid}"))

    @asynq()
    def name_of(self, uid: int) -> Generator[Any, Any, str]:
        user = yield self.reads.get(f"user:{uid}")
        return user["name"]  # type: ignore[no-any-return]

    @asynq()
    def upvoter_names(self, aid: int) -> Generator[Any, Any, list[str]]:
        """Depth 2: the answer, then its upvoters' names."""
        answer = yield self.answer.asynq(aid)
        return (yield [self.name_of.asynq(uid) for uid in answer["upvoters"]])

    @asynq()
    def render_answer(self, aid: int) -> Generator[Any, Any, str]:
        """Depth 2: the answer, then its author's and upvoters' names together."""
        answer = yield self.answer.asynq(aid)
        author, upvoters = yield (
            self.name_of.asynq(answer["author"]),
            [self.name_of.asynq(uid) for uid in answer["upvoters"]],
        )
        return f"answer {aid} by {author}, upvoted by {', '.join(upvoters)}"

    @asynq()
    def comment_authors(self, aid: int) -> Generator[Any, Any, list[str]]:
        """Depth 3: the answer, then its comments, then their authors' names."""
        answer = yield self.answer.asynq(aid)
        comments = yield [self.reads.get(f"comment:{cid}") for cid in answer["comments"]]
        return (yield [self.name_of.asynq(c["author"]) for c in comments])


@pytest.fixture
def blog(memcached: MemcachedServer, multi_gets: Callable[..., MultiGets]) -> Blog:
    """The blog model on freshly seeded data; ``blog.reads.rounds`` records each multi-get."""
    memcached.flush_all()
    reads = multi_gets()
    data: dict[str, Any] = {f"user:{uid}": {"name": user_name(uid)} for uid in range(USERS)}
    for aid in range(ANSWERS):
        data[f"answer:{aid}"] = answer_record(aid)
        for cid in answer_record(aid)["comments"]:
            data[f"comment:{cid}"] = {"author": (cid * 3) % USERS}
    reads.seed(data)
    return Blog(reads)


@pytest.fixture
def sync_call_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-line hook the decorators need (``check_sync_call(self)`` at the top of
    ``AsyncDecorator.__call__``), patched in until decorators.py calls it itself."""
    from asynq.asyncio_interop import check_sync_call

    original = AsyncDecorator.__call__
    if {"check_sync_call", "_sync_call_check"} & set(original.__code__.co_names):
        return  # decorators.py calls it (through the hook asynq.lowlevel installs)

    def checked_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        check_sync_call(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncDecorator, "__call__", checked_call)

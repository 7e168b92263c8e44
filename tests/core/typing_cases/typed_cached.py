"""Checked by mypy and pyright in test_typing.py: what @mc.cached promises to a type checker."""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any, assert_type

from asynq import asynq
from asynq.futures import FutureBase
from asynq.memcache import MemcacheClient

mc = MemcacheClient("127.0.0.1:11211")


@mc.cached("name")
def name_of(uid: int) -> str:
    return f"user{uid}"


@mc.cached("names", ttl=60)
@asynq()
def names_of(uids: list[int], *, formal: bool = False) -> Generator[Any, Any, list[str]]:
    result = yield [name_of.asynq(uid) for uid in uids]
    return result


assert_type(name_of(1), str)
assert_type(name_of.asynq(1), FutureBase[str])

async def awaiting() -> None:
    assert_type(name_of.asyncio(1), Coroutine[Any, Any, str])  # type: ignore[unused-coroutine]
    assert_type(await name_of.asyncio(1), str)

assert_type(name_of.key(1), str)
assert_type(name_of.dirty(1), bool)
assert_type(names_of([1, 2]), list[str])
assert_type(names_of.asynq([1], formal=True), FutureBase[list[str]])

name_of("not an int")  # type: ignore[arg-type]
name_of.asynq(1, 2)  # type: ignore[call-arg]
name_of.prime(uid="x")  # type: ignore[arg-type]
names_of.asynq([1], informal=True)  # type: ignore[call-arg]

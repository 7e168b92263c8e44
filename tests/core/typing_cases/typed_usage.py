"""Checked by mypy in test_typing.py: what the decorators promise to a type checker."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, assert_type

from asynq import AsyncTask, asynq


@asynq()
def name_of_user(uid: int) -> str:
    return f"user{uid}"


@asynq()
def names(uids: list[int]) -> Generator[Any, Any, list[str]]:
    result = yield [name_of_user.asynq(uid) for uid in uids]
    return result


assert_type(name_of_user(1), str)
assert_type(name_of_user.asynq(1), AsyncTask[str])
assert_type(names([1, 2]), list[str])
assert_type(names.asynq([1]), AsyncTask[list[str]])

name_of_user("not an int")  # type: ignore[arg-type]
name_of_user.asynq(1, 2)  # type: ignore[call-arg]
names.asynq(uids="x")  # type: ignore[arg-type]


class Model:
    @asynq()
    def score(self, bonus: int) -> Generator[Any, Any, float]:
        yield None
        return 1.5 + bonus


assert_type(Model().score(1), float)
assert_type(Model().score.asynq(2), AsyncTask[float])

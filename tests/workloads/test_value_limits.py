"""Limits of what is cached (docs/memcache.md).

- ``max_value_size`` (just under 1 MB by default): "larger values are not written back (memcached
  would refuse them)": the call still returns the body's value, every time, and the other values
  of the same round are still written back.
- Keys: "Other argument types are refused with a message; pass ids, or give ``cached(...,
  key=fn)`` a function that maps the arguments to supported values."
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from asynq import asynq
from asynq.memcache import KeyEncodingError, MemcacheClient
from workloads.helpers import describe_call, fresh_namespace, same

BIG = 2 * 1024 * 1024


def test_a_value_too_big_for_memcached_is_returned_exactly_and_the_rest_of_the_round_is_cached(
    mc_client: MemcacheClient,
) -> None:
    ran: Counter[int] = Counter()

    @mc_client.cached(fresh_namespace("big"))
    def item(x: int) -> Any:
        ran[x] += 1
        if x == 0:
            return "x" * BIG
        if x == 1:
            return ["y" * (BIG // 2), "z" * (BIG // 2)]
        return {"x": x}

    def value(x: int) -> Any:
        return "x" * BIG if x == 0 else ["y" * (BIG // 2), "z" * (BIG // 2)] if x == 1 else {"x": x}

    @asynq()
    def together() -> Any:
        return (yield [item.asynq(x) for x in range(12)])

    for attempt in range(3):
        got = together()
        assert all(same(value(x), got[x]) for x in range(12)), attempt
        assert same(value(0), item(0)) and same(value(1), item(1)), attempt
    assert all(ran[x] == 1 for x in range(2, 12)), f"small values recomputed: {ran}"


class _User:
    def __init__(self, uid: Any) -> None:
        self.uid = uid


@pytest.mark.parametrize(
    ("argument", "type_name"),
    [
        ({"a": 1}, "dict"),
        ({1, 2}, "set"),
        (_User(1), "_User"),
        (1 + 2j, "complex"),
        ([{"a": 1}], "dict"),
    ],
)
def test_an_unsupported_argument_is_refused_with_a_message_and_the_body_never_runs(
    mc_client: MemcacheClient, argument: Any, type_name: str
) -> None:
    ran: list[Any] = []

    @mc_client.cached(fresh_namespace("refused"))
    def item(x: Any) -> str:
        ran.append(x)
        return "computed"

    @asynq()
    def yielded() -> Any:
        return (yield item.asynq(argument))

    for attempt in (lambda: item(argument), yielded, lambda: item.key(argument)):
        with pytest.raises(KeyEncodingError) as caught:
            attempt()
        message = str(caught.value)
        assert type_name in message, "the message says what was received"
        assert "key=" in message, "the message names the fix: a key function"
    assert ran == []


def test_a_key_function_maps_objects_to_keys_and_each_object_gets_its_own_value(
    mc_client: MemcacheClient,
) -> None:
    @mc_client.cached(fresh_namespace("keyfn"), key=lambda user: ("user", user.uid))
    def name(user: _User) -> str:
        return describe_call(user.uid)

    @asynq()
    def names(users: list[_User]) -> Any:
        return (yield [name.asynq(user) for user in users])

    uids: list[Any] = [1, True, 1.0, "1", (1,), [1], 2, None]
    for _ in ("cold", "warm"):
        assert [name(_User(uid)) for uid in uids] == [describe_call(uid) for uid in uids]
        assert names([_User(uid) for uid in uids]) == [describe_call(uid) for uid in uids]
    assert name.key(_User(7)) == name.key(_User(7))

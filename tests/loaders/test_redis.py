"""Loaders on a real redis-server: the MGETs the server received, with their keys."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from asynq import asynq, get_scheduler
from asynq.loaders import Loader
from examples.redis_mget.main import Blog, command_calls, render_page, render_page_naive, seed


def mgets(client: redis.Redis) -> list[list[str]]:
    """The keys of every MGET the server ran since the slowlog was reset, oldest first."""
    entries: list[dict[str, Any]] = client.slowlog_get(1000)
    commands = [entry["command"].decode().split() for entry in reversed(entries)]
    return [args[1:] for args in commands if args[0].upper() == "MGET"]


def test_the_blog_page_takes_two_mgets_whatever_the_number_of_answers(
    redis_client: redis.Redis,
) -> None:
    answer_ids = seed(redis_client, answers=50, upvoters=10, users=300)
    redis_client.config_resetstat()
    page = render_page(Blog(redis_client), answer_ids)
    assert len(page) == 50
    calls = command_calls(redis_client)
    assert calls.get("mget") == 2
    assert "get" not in calls
    assert get_scheduler().stats.rounds == 2


def test_the_loader_page_equals_the_naive_page(redis_client: redis.Redis) -> None:
    answer_ids = seed(redis_client, answers=10, upvoters=4, users=30)
    assert render_page(Blog(redis_client), answer_ids) == render_page_naive(
        redis_client, answer_ids
    )


def test_each_mget_carries_the_rounds_distinct_keys_in_request_order(
    redis_client: redis.Redis,
) -> None:
    redis_client.mset({f"user:{i}": json.dumps({"name": f"u{i}"}) for i in range(1, 6)})
    redis_client.slowlog_reset()
    blog = Blog(redis_client)

    @asynq()
    def names() -> Any:
        first = yield [blog.user.asynq(3), blog.user.asynq(1), blog.user.asynq(3)]
        second = yield [blog.user.asynq(1), blog.user.asynq(5)]
        return [u["name"] for u in first + second]

    assert names() == ["u3", "u1", "u3", "u1", "u5"]
    assert mgets(redis_client) == [["user:3", "user:1"], ["user:5"]]


def test_max_batch_size_splits_a_rounds_keys_into_several_mgets(
    redis_client: redis.Redis,
) -> None:
    redis_client.mset({f"user:{i}": json.dumps({"name": f"u{i}"}) for i in range(1, 8)})
    redis_client.slowlog_reset()
    blog = Blog(redis_client, max_batch_size=3)

    @asynq()
    def names() -> Any:
        return (yield [blog.user.asynq(i) for i in range(1, 8)])

    assert len(names()) == 7
    assert mgets(redis_client) == [
        ["user:1", "user:2", "user:3"],
        ["user:4", "user:5", "user:6"],
        ["user:7"],
    ]
    assert get_scheduler().stats.rounds == 1


def test_a_missing_key_is_none_and_renders_as_deleted(redis_client: redis.Redis) -> None:
    redis_client.mset(
        {
            "answer:1": json.dumps({"id": 1, "author_id": 7, "upvoter_ids": [8]}),
            "user:8": json.dumps({"name": "ann"}),
        }
    )
    assert render_page(Blog(redis_client), [1]) == [
        {"id": 1, "author": "[deleted]", "upvoters": ["ann"]}
    ]


def test_a_redis_error_fails_the_calls_keys_and_the_next_request_asks_again(
    redis_client: redis.Redis,
) -> None:
    redis_client.set("user:1", json.dumps({"name": "ann"}))
    with socket.socket() as sock:  # a port on 127.0.0.1 where nothing listens
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    down = redis.Redis(
        host="127.0.0.1", port=closed_port, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    clients = [down, redis_client]

    def mget(ids: list[int]) -> list[Any]:
        values = clients[0].mget([f"user:{i}" for i in ids])
        return [None if v is None else json.loads(v) for v in values]

    load_user = Loader(mget)
    try:
        with pytest.raises(redis.ConnectionError):
            load_user(1)
    finally:
        down.close()
    clients.pop(0)
    assert load_user(1) == {"name": "ann"}

"""The blog workload on Redis: one ``MGET`` per level, through two loaders.

Answers and users are JSON strings under ``answer:<id>`` and ``user:<id>``. ``MGET`` returns the
values in key order with ``None`` for a missing key, which is exactly a loader's list contract: the
batch function is one line. A deleted user is ``None`` and renders as ``[deleted]``.

    python -m examples.redis_mget.main               # starts a throwaway redis-server on 127.0.0.1
    python -m examples.redis_mget.main --port 6379   # or uses a running one (it writes keys!)

Without ``--port`` it needs the ``redis-server`` binary (Debian: ``apt-get install redis-server``).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis

from asynq import asynq
from asynq.loaders import Loader


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def redis_server(port: int | None = None) -> Iterator[int]:
    """Run a throwaway ``redis-server`` on 127.0.0.1 (no persistence); yield its port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed; on Debian run `apt-get install -y redis-server`, "
            "or pass --port of a running server"
        )
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.02)
        client.close()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def seed(
    client: redis.Redis, answers: int = 200, upvoters: int = 50, users: int = 2000, seed: int = 0
) -> list[int]:
    """Write the blog's answers and users (user 1 is deleted); return the answer ids."""
    rng = random.Random(seed)
    values: dict[str, str] = {}
    for uid in range(2, users + 1):
        values[f"user:{uid}"] = json.dumps({"id": uid, "name": f"user{uid}"})
    for aid in range(1, answers + 1):
        values[f"answer:{aid}"] = json.dumps(
            {
                "id": aid,
                "author_id": rng.randint(1, users),
                "text": f"answer {aid}",
                "upvoter_ids": sorted(rng.sample(range(1, users + 1), min(upvoters, users))),
            }
        )
    client.mset(values)
    return list(range(1, answers + 1))


class Blog:
    """The blog's loaders over a Redis client."""

    def __init__(self, client: redis.Redis, max_batch_size: int | None = None) -> None:
        def mget(prefix: str, ids: Sequence[int]) -> list[Any]:
            raw = client.mget([f"{prefix}:{i}" for i in ids])
            return [None if value is None else json.loads(value) for value in raw]

        self.answer: Loader[int, Any] = Loader(
            lambda ids: mget("answer", ids), max_batch_size=max_batch_size, name="load_answer"
        )
        self.user: Loader[int, Any] = Loader(
            lambda ids: mget("user", ids), max_batch_size=max_batch_size, name="load_user"
        )


def _name(user: Any) -> str:
    return "[deleted]" if user is None else str(user["name"])


@asynq()
def render_answer(blog: Blog, answer_id: int) -> Any:
    """One answer with its author's and upvoters' names, written as if alone."""
    answer = yield blog.answer.asynq(answer_id)
    author, upvoters = yield (
        blog.user.asynq(answer["author_id"]),
        [blog.user.asynq(uid) for uid in answer["upvoter_ids"]],
    )
    return {
        "id": answer["id"],
        "author": _name(author),
        "upvoters": [_name(user) for user in upvoters],
    }


@asynq()
def render_page(blog: Blog, answer_ids: Sequence[int]) -> Any:
    """The page: two MGETs, whatever the number of answers."""
    return (yield [render_answer.asynq(blog, aid) for aid in answer_ids])


def render_page_naive(client: redis.Redis, answer_ids: Sequence[int]) -> list[Any]:
    """The same page with one GET per lookup."""

    def get(key: str) -> Any:
        value = client.get(key)
        return None if value is None else json.loads(value)

    page = []
    for aid in answer_ids:
        answer = get(f"answer:{aid}")
        page.append(
            {
                "id": answer["id"],
                "author": _name(get(f"user:{answer['author_id']}")),
                "upvoters": [_name(get(f"user:{uid}")) for uid in answer["upvoter_ids"]],
            }
        )
    return page


def command_calls(client: redis.Redis) -> dict[str, int]:
    """How many times the server ran each command since its statistics were last reset."""
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def run(port: int, answers: int = 200, upvoters: int = 50, users: int = 2000) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        answer_ids = seed(client, answers, upvoters, users)
        pages = {}
        for label, render in [
            ("asynq loaders", lambda: render_page(Blog(client), answer_ids)),
            ("naive GETs", lambda: render_page_naive(client, answer_ids)),
        ]:
            client.config_resetstat()
            started = time.perf_counter()
            pages[label] = render()
            elapsed = time.perf_counter() - started
            calls = command_calls(client)
            calls.pop("config|resetstat", None)
            counted = ", ".join(f"{n} {name.upper()}" for name, n in sorted(calls.items()))
            print(f"{label:14} {counted:12} {elapsed * 1000:8.1f} ms")
        same = pages["asynq loaders"] == pages["naive GETs"]
        print(f"same page from both: {same}")
        return same
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="use this running server instead of starting one")
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--upvoters", type=int, default=50)
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args(argv)
    sizes = (args.answers, args.upvoters, args.users)
    if args.port is not None:
        return 0 if run(args.port, *sizes) else 1
    with redis_server() as port:
        return 0 if run(port, *sizes) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Fixtures for the loader tests: real backends on 127.0.0.1, and a recording batch function."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asynq import get_scheduler

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the examples are imported as `examples.<name>.main`
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from examples.http_concurrent.main import DelayServer, delay_server  # noqa: E402


class Recorder:
    """A batch function that records each call as (round, keys) and answers ``answer(keys)``.

    ``round`` is the scheduler's round counter during the call, so calls made in the same round
    of flushes share it.
    """

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[tuple[int, list[Any]]] = []
        self.answer = answer if answer is not None else (lambda keys: [f"v{k}" for k in keys])

    def __call__(self, keys: list[Any]) -> Any:
        self.calls.append((get_scheduler().stats.rounds, list(keys)))
        return self.answer(keys)

    @property
    def keys(self) -> list[list[Any]]:
        """The keys of each call, in call order."""
        return [keys for _, keys in self.calls]

    def rounds(self) -> list[int]:
        """The round of each call, relative to the first call's round (first is 0)."""
        if not self.calls:
            return []
        first = self.calls[0][0]
        return [r - first for r, _ in self.calls]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    """A real redis-server on 127.0.0.1 for the whole session (no persistence)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not installed: the Redis loader tests need a real server. "
            "Install it with `apt-get install -y redis-server` (the project's .ci/run does)."
        )
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on 127.0.0.1:{port}")
                time.sleep(0.02)
        client.close()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def redis_client(redis_port: int) -> Iterator[redis.Redis]:
    """A client of the session's server, emptied, with command statistics and slowlog reset.

    The slowlog records every command (threshold 0), so tests can read the exact keys of each
    MGET the server received.
    """
    client = redis.Redis(host="127.0.0.1", port=redis_port)
    client.flushall()
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 1000)
    client.slowlog_reset()
    client.config_resetstat()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def http_server() -> Iterator[DelayServer]:
    """The example's delay server on 127.0.0.1, answering at once (tests set ``delay``)."""
    with delay_server(0.0) as server:
        yield server

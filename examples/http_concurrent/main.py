"""100 per-key HTTP calls against an API with no multi-get: one after another vs one round.

A local HTTP server on 127.0.0.1 answers ``GET /item/<key>`` after a fixed delay (50 ms), like a
cloud API called once per key (boto3's ``get_object_acl``, a REST endpoint). ``fetch_item`` is the
plain blocking call; ``@concurrent_batch()`` makes the calls of one round run on a bounded thread
pool, so the round costs one call's latency per wave of ``max_workers`` calls instead of the sum.

    python -m examples.http_concurrent.main [--keys 100] [--delay 0.05] [--workers 16]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asynq import asynq
from asynq.loaders import ConcurrentFunction, concurrent_batch


class DelayServer(ThreadingHTTPServer):
    """Answers ``GET /item/<key>`` with ``{"key": key}`` after ``delay`` seconds.

    ``requests`` records every path served; ``before_reply`` (if set) is called in the handler
    thread before the delay, e.g. to make requests wait on a barrier in tests.
    """

    daemon_threads = True
    request_queue_size = 256  # 100 connections arrive at once; the default backlog is 5

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.requests: list[str] = []
        self.before_reply: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: DelayServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        server = self.server
        with server._lock:
            server.requests.append(self.path)
        if server.before_reply is not None:
            server.before_reply(self.path)
        time.sleep(server.delay)
        if not self.path.startswith("/item/"):
            self.send_error(404)
            return
        key = self.path.removeprefix("/item/")
        if key.startswith("missing"):
            self.send_error(404, f"no item {key}")
            return
        body = json.dumps({"key": key}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's signature
        pass


@contextmanager
def delay_server(delay: float = 0.05) -> Iterator[DelayServer]:
    """Serve on 127.0.0.1 (a free port) in a background thread; shut down on exit."""
    server = DelayServer(delay)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="delay-server", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def fetch_item(base_url: str, key: str) -> dict[str, Any]:
    """The blocking per-key call: one HTTP request (raises ``urllib.error.HTTPError`` on 404)."""
    try:
        with urllib.request.urlopen(f"{base_url}/item/{key}", timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as error:
        error.close()  # the error carries the open response; keep its code, free the socket
        raise


def concurrent_fetch(workers: int = 16, timeout: float | None = 10) -> ConcurrentFunction[Any, Any]:
    """``fetch_item`` as a concurrent batch with its own pool of ``workers`` threads."""
    return concurrent_batch(max_workers=workers, timeout=timeout, name="fetch_item")(fetch_item)


@asynq()
def fetch_all(fetch: ConcurrentFunction[Any, Any], base_url: str, keys: Sequence[str]) -> Any:
    """Every key's item, in one round: the calls run concurrently on ``fetch``'s pool."""
    return (yield [fetch.asynq(base_url, key) for key in keys])


def fetch_all_naive(base_url: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Every key's item, one request after another."""
    return [fetch_item(base_url, key) for key in keys]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per response")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args(argv)
    keys = [f"k{i}" for i in range(args.keys)]
    fetch = concurrent_fetch(args.workers)
    try:
        with delay_server(args.delay) as server:
            started = time.perf_counter()
            naive = fetch_all_naive(server.url, keys)
            naive_s = time.perf_counter() - started
            started = time.perf_counter()
            batched = fetch_all(fetch, server.url, keys)
            batched_s = time.perf_counter() - started
    finally:
        fetch.shutdown()
    waves = -(-args.keys // args.workers)
    print(f"{args.keys} calls, {args.delay * 1000:.0f} ms each, {args.workers} workers")
    print(f"one after another  {naive_s * 1000:8.1f} ms")
    print(
        f"concurrent batch   {batched_s * 1000:8.1f} ms  ({waves} wave(s) of up to "
        f"{args.workers} calls; {naive_s / batched_s:.1f}x faster)"
    )
    same = naive == batched
    print(f"same results: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""A writer/reader of a versioned counter, cached with ``@mc.cached``; run in threads or as a
process (``python dirty_worker.py '{json settings}'`` prints a JSON report).

The source of truth is a separate memcached (the "database"): ``v:<x>`` is the version of item
``x``, bumped atomically with ``incr``. A writer bumps it, calls ``version.dirty(x)``, and once
``dirty`` has returned publishes ``done:<x>:<worker>`` = that version. A reader first reads every
worker's published versions (the lowest version it may see), then reads ``version(x)`` in a new
request: a read below that bound is a stale value served after ``dirty()`` returned.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from typing import Any

from pymemcache.client.base import Client

from asynq import asynq
from asynq.memcache import MemcacheClient


def address_of(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def make_version(client: MemcacheClient, namespace: str, db_address: str) -> Any:
    """The cached function under test; each thread reads the database on its own connection
    (``version.close_database()`` closes them all)."""
    local = threading.local()
    opened: list[Client] = []

    def db() -> Client:
        if not hasattr(local, "client"):
            local.client = Client(address_of(db_address))
            opened.append(local.client)
        return local.client

    def close_database() -> None:
        for connection in opened:
            connection.close()

    @client.cached(namespace)
    def version(x: int) -> int:
        return int(db().get(f"v:{x}"))

    version.close_database = close_database  # type: ignore[attr-defined]
    return version


def run(
    client: MemcacheClient,
    version: Any,
    db_address: str,
    worker: int,
    workers: int,
    items: int,
    seconds: float,
) -> dict[str, Any]:
    """Write, dirty and read for ``seconds``; return counts and every stale read."""
    db = Client(address_of(db_address))
    rng = random.Random(worker)
    stale: list[str] = []
    counts = {"writes": 0, "reads": 0}

    def lowest(x: int) -> int:
        published = db.get_many([f"done:{x}:{w}" for w in range(workers)])
        return max((int(v) for v in published.values()), default=0)

    @asynq()
    def read_all() -> Any:
        return (yield [version.asynq(x) for x in range(items)])

    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            x = rng.randrange(items)
            roll = rng.random()
            if roll < 0.3:
                bumped = db.incr(f"v:{x}", 1)
                version.dirty(x)
                db.set(f"done:{x}:{worker}", str(bumped), noreply=False)
                counts["writes"] += 1
            elif roll < 0.6:
                bound = lowest(x)
                got = version(x)
                counts["reads"] += 1
                if got < bound:
                    stale.append(f"worker {worker}: version({x}) = {got} after {bound} was dirtied")
            elif roll < 0.8:
                bounds = [lowest(i) for i in range(items)]
                for i, got in enumerate(read_all()):
                    counts["reads"] += 1
                    if got < bounds[i]:
                        stale.append(
                            f"worker {worker}: yielded version({i}) = {got} "
                            f"after {bounds[i]} was dirtied"
                        )
            else:
                bound = lowest(x)
                with client.request():
                    got = version(x)
                counts["reads"] += 1
                if got < bound:
                    stale.append(
                        f"worker {worker}: version({x}) in a scope = {got} after {bound} was dirtied"
                    )
    except Exception as error:  # noqa: BLE001 - reported, so the test fails with the reason
        stale.append(f"worker {worker} raised {type(error).__name__}: {error}")
    finally:
        db.close()
    return {"stale": stale, **counts}


def main(settings: dict[str, Any]) -> dict[str, Any]:
    """One process: its own client, ``threads`` workers numbered from ``first_worker``."""
    client = MemcacheClient(settings["cache"])
    version = make_version(client, settings["namespace"], settings["db"])
    reports: list[dict[str, Any]] = []

    def one(worker: int) -> None:
        reports.append(
            run(
                client,
                version,
                settings["db"],
                worker,
                settings["workers"],
                settings["items"],
                settings["seconds"],
            )
        )

    threads = [
        threading.Thread(target=one, args=(settings["first_worker"] + i,))
        for i in range(settings["threads"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    version.close_database()
    client.close()
    return {
        "stale": [line for report in reports for line in report["stale"]],
        "writes": sum(report["writes"] for report in reports),
        "reads": sum(report["reads"] for report in reports),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))

"""Running a generated priming program (a base module of cached functions and a logic module
with a view ``main``) against a real memcached, for the property tests of the migration."""

from __future__ import annotations

import sys
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asynq import priming
from asynq.memcache import MemcacheClient


@contextmanager
def installed(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """``modules`` importable by name for the block, and whatever they replaced put back."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def run(
    address: str, base_src: str, logic_src: str, xs: list[int], prefix: str = "rt"
) -> list[tuple[Any, int]]:
    """Import the program (modules ``<prefix>cache``, ``<prefix>base``, ``<prefix>logic``)
    with a fresh key prefix; run its view cold, then warm: (output, round trips) per run."""
    client = MemcacheClient(address, key_prefix=f"{prefix}{uuid.uuid4().hex[:12]}:")
    trips: list[object] = []
    client.on_round_trip.subscribe(trips.append)
    cache = types.ModuleType(f"{prefix}cache")
    cache.mc = client  # type: ignore[attr-defined]
    base, logic = types.ModuleType(f"{prefix}base"), types.ModuleType(f"{prefix}logic")
    out = []
    try:
        with installed({cache.__name__: cache, base.__name__: base, logic.__name__: logic}):
            for module, source in ((base, base_src), (logic, logic_src)):
                code = compile(source, f"{prefix}/{module.__name__}.py", "exec")
                exec(code, module.__dict__)  # noqa: S102
            for _ in ("cold", "warm"):
                trips.clear()
                with client.request():
                    value = logic.main(xs)
                priming.end_request()
                out.append((value, len(trips)))
    finally:
        client.close()
    return out

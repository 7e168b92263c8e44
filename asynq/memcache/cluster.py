"""Consistent hashing: which server of a cluster holds a key.

A ring in the style of ketama: every server owns ``points_per_server`` points placed by MD5 of its
address, and a key belongs to the first point at or after the MD5 of the key. Adding or removing
one server of N moves about 1/N of the keys. A server that is down keeps its keys (they are misses
until it answers again), so a failure never reshuffles the rest of the cluster.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence

__all__ = ["HashRing"]


def _point(text: str) -> int:
    return int.from_bytes(
        hashlib.md5(text.encode("utf-8"), usedforsecurity=False).digest()[:8], "big"
    )


class HashRing:
    """Maps keys to indexes into ``nodes`` (``"host:port"`` strings)."""

    def __init__(self, nodes: Sequence[str], points_per_server: int = 160) -> None:
        if not nodes:
            raise ValueError("a HashRing needs at least one server")
        if len(set(nodes)) != len(nodes):
            raise ValueError(f"a cluster lists the same server twice: {list(nodes)!r}")
        self.nodes = list(nodes)
        points: list[tuple[int, int]] = []
        for index, node in enumerate(self.nodes):
            for i in range(points_per_server):
                points.append((_point(f"{node}-{i}"), index))
        points.sort()
        self._points = [p for p, _ in points]
        self._owners = [o for _, o in points]

    def index_for(self, key: str) -> int:
        """The index of the server that holds ``key``."""
        i = bisect.bisect_left(self._points, _point(key))
        return self._owners[i if i < len(self._owners) else 0]

    def node_for(self, key: str) -> str:
        """The ``"host:port"`` of the server that holds ``key``."""
        return self.nodes[self.index_for(key)]

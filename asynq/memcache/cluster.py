"""Consistent hashing: which server of a cluster holds a key.

``Rendezvous`` (the default) places keys exactly as pymemcache's ``HashClient`` does by default
(rendezvous hashing, murmur3 of ``"host:port-key"``, the key without its prefix), so asynq and
legacy code using a ``HashClient`` on the same servers agree on where every key lives.
``HashRing`` is a ring in the style of ketama: every server owns ``points_per_server`` points
placed by MD5 of its address, and a key belongs to the first point at or after the MD5 of the key.
Either way adding or removing one server of N moves about 1/N of the keys. A server that is down
keeps its keys (they are misses until it answers again), so a failure never reshuffles the rest of
the cluster.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from typing import Any

from pymemcache.client.rendezvous import RendezvousHash

__all__ = ["HashRing", "Rendezvous", "HasherPlacement"]


class Rendezvous:
    """Maps keys to indexes into ``nodes`` as pymemcache's default ``HashClient`` does."""

    def __init__(self, nodes: Sequence[str]) -> None:
        if not nodes:
            raise ValueError("a cluster needs at least one server")
        self.nodes = list(nodes)
        self._hasher = RendezvousHash(nodes=list(nodes))
        self._index = {node: i for i, node in enumerate(self.nodes)}

    def index_for(self, key: str) -> int:
        """The index of the server that holds ``key`` (given without a key prefix)."""
        return self._index[self._hasher.get_node(key)]

    def node_for(self, key: str) -> str:
        """The ``"host:port"`` of the server that holds ``key``."""
        return self.nodes[self.index_for(key)]


class HasherPlacement:
    """Places keys with the hasher of a pymemcache ``HashClient`` (its ``get_node``), so that
    the client and asynq agree even when the hasher is not the default one."""

    def __init__(self, hasher: Any, nodes: Sequence[str], fallback: Rendezvous) -> None:
        self._hasher = hasher
        self._index = {node: i for i, node in enumerate(nodes)}
        self._fallback = fallback

    def index_for(self, key: str) -> int:
        """The index of the server the hasher names for ``key`` (without a key prefix)."""
        index = self._index.get(self._hasher.get_node(key))
        # None: the HashClient took every server out of rotation; place as if none were.
        return self._fallback.index_for(key) if index is None else index


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

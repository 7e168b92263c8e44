"""Batched memcached reads on pymemcache (see docs/memcache.md)."""

from .server import EmbeddedMemcached, MemcachedServer, memcached_available

__all__ = ["EmbeddedMemcached", "MemcachedServer", "memcached_available"]

"""Batched memcached reads on pymemcache (see docs/memcache.md).

``MemcacheClient`` reads in batches: every read made while asynq tasks run joins one multi-get per
round. ``@mc.cached("namespace")`` turns a model function into a cached asynq function, and
``with mc.request():`` opens a request scope in which each key is fetched at most once.
"""

from .batch import RoundTrip
from .cached import CachedFunction
from .client import MemcacheClient, MemcacheStats
from .cluster import HashRing
from .keys import KeyEncodingError, is_valid_key, make_key
from .request import MISSING, RequestScope
from .serde import JsonSerializer, PickleSerializer, Serializer, ValueDecodeError
from .server import EmbeddedMemcached, MemcachedServer, memcached_available
from .typed import Cached

__all__ = [
    "MemcacheClient",
    "MemcacheStats",
    "CachedFunction",
    "Cached",
    "RoundTrip",
    "RequestScope",
    "MISSING",
    "HashRing",
    "make_key",
    "is_valid_key",
    "KeyEncodingError",
    "Serializer",
    "JsonSerializer",
    "PickleSerializer",
    "ValueDecodeError",
    "MemcachedServer",
    "EmbeddedMemcached",
    "memcached_available",
]

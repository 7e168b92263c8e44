"""The memcached client every model module caches through, and the per-request setup.

Production points TICKETS_MEMCACHE at the cache tier ("host:port", or several separated by
commas); it must be set before `tickets` is imported, like the rest of our settings.
"""

import os
from contextlib import contextmanager

from asynq import priming
from asynq.memcache import MemcacheClient

from tickets import metering

MEMCACHE_SERVERS = os.environ.get("TICKETS_MEMCACHE", "127.0.0.1:11211").split(",")

mc = MemcacheClient(MEMCACHE_SERVERS, key_prefix="tix:", default_ttl=6 * 3600)


@contextmanager
def request():
    """What the web framework's middleware wraps around each request."""
    metering.start_request()
    try:
        with mc.request():
            yield
    finally:
        priming.end_request()

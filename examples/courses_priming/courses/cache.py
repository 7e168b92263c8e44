"""The memcached client the models cache through.

The server comes from the COURSES_MEMCACHED environment variable (``host:port``), as in
production, where the deploy sets it; ``configure()`` points it elsewhere at run time.
"""

import os

from asynq.memcache import MemcacheClient

DEFAULT_SERVER = "127.0.0.1:11211"

mc = MemcacheClient(
    os.environ.get("COURSES_MEMCACHED", DEFAULT_SERVER),
    key_prefix="courses:",
    default_ttl=6 * 3600,
)


def configure(server):
    """Point the client at another memcached (tests, scripts)."""
    mc.retarget(server)

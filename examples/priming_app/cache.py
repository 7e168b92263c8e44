"""The memcache client of the application."""

import os

from asynq.memcache import MemcacheClient

SERVERS = os.environ.get("PRIMING_APP_SERVERS", "127.0.0.1:11211")

mc = MemcacheClient(SERVERS, key_prefix="priming_app:")

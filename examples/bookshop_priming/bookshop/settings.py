"""Deployment settings, read from the environment once at start-up."""

import os

# "host:port" of the memcached the site reads through; several, comma-separated, for a cluster.
MEMCACHE_SERVERS = os.environ.get("BOOKSHOP_MEMCACHE_SERVERS", "127.0.0.1:11211").split(",")
MEMCACHE_PREFIX = os.environ.get("BOOKSHOP_MEMCACHE_PREFIX", "bookshop:")
# Cached rows live a day; stock levels change often, so they live a minute.
ROW_TTL = 24 * 3600
STOCK_TTL = 60
LOW_STOCK = 2

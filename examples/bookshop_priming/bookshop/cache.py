"""The site's memcached client. Model functions are cached with ``@mc.cached("namespace")``."""

from asynq.memcache import MemcacheClient

from . import settings

mc = MemcacheClient(
    settings.MEMCACHE_SERVERS if len(settings.MEMCACHE_SERVERS) > 1 else settings.MEMCACHE_SERVERS[0],
    key_prefix=settings.MEMCACHE_PREFIX,
    default_ttl=settings.ROW_TTL,
)

"""The priming tests use the memcache fixtures (servers, clients, round-trip recorders)."""

from tests.memcache.conftest import (  # noqa: F401 - fixtures, found by name
    _clean_priming,
    _embedded_process,
    _memcached_cluster_processes,
    _memcached_process,
    mc,
    memcached,
    memcached_cluster,
    trips,
)

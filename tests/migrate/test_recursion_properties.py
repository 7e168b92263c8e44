"""Property test against a real memcached: random priming programs that walk (a small random
tree by recursion, a linked chain with ``while``, some converted and some refused) and their
migration return the same outputs, with no more round trips per request, cold or warm."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynq.memcache.server import MemcachedServer
from tests.migrate.random_programs import assert_migrated_no_worse, walk_programs


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(walk_programs(), st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True))
def test_a_migrated_program_that_walks_gives_the_same_outputs_with_no_more_round_trips(
    server: MemcachedServer, program: tuple[str, str], xs: list[int]
) -> None:
    base_src, logic_src = program
    assert_migrated_no_worse(server.address, base_src, logic_src, xs, "rt")

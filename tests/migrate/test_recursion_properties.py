"""Property test against a real memcached: random priming programs that walk (a small random
tree by recursion, a linked chain with ``while``, some converted and some refused) and their
migration return the same outputs, with no more round trips per request, cold or warm."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import run, walk_programs


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
    result = migrate_sources({"rt/rtbase.py": base_src, "rt/rtlogic.py": logic_src})
    assert migrate_sources(result.code).code == result.code  # idempotent
    before = run(server.address, base_src, logic_src, xs, "rt")
    after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs, "rt")
    for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
        assert new_value == old_value
        assert new_trips <= old_trips, (
            f"{old_trips} -> {new_trips} round trips\n{result.code['rt/rtlogic.py']}"
        )

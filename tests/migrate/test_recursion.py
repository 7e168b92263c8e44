"""Functions that call themselves (a tree walked by recursion) are converted: their calls on
themselves are yielded together, so the scheduler runs a whole level as sibling tasks and
one round fetches it, as the twin primes it. The conversion is held to the twin's rounds:
counted on the converted code, the next level must start no later than the twin primes it,
and the recursion is refused, with both counts, when it would not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.memcache.server import MemcachedServer
from asynq.migrate import MigratedSources, migrate_sources
from tests.migrate.random_programs import run


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


BASE = """
from rtcache import mc


@mc.cached("node")
def node_row(x):
    return {"label": "node-%d" % x, "user": x % 4}


@mc.cached("children")
def child_ids(x):
    return [x * 3 + 1, x * 3 + 2] if x < 13 else []


@mc.cached("user")
def user_name(u):
    return "user-%d" % u


prime_node_row = node_row.prime
prime_child_ids = child_ids.prime
prime_user_name = user_name.prime
"""

LOGIC = """
from asynq import priming
from rtbase import (
    child_ids,
    node_row,
    prime_child_ids,
    prime_node_row,
    prime_user_name,
    user_name,
)


def tree(x):
    row = node_row(x)
    return {
        "label": row["label"],
        "by": user_name(row["user"]),
        "children": [tree(c) for c in child_ids(x)],
    }


@priming.generator
def prime_tree(x):
    prime_node_row(x)
    prime_child_ids(x)
    yield
    prime_user_name(node_row(x)["user"])
    for c in child_ids(x):
        prime_tree(c)


def depth(x):
    children = child_ids(x)
    if not children:
        return 1
    return 1 + max(depth(c) for c in children)


@priming.generator
def prime_depth(x):
    prime_child_ids(x)
    yield
    for c in child_ids(x):
        prime_depth(c)


def prime_page(xs):
    for x in xs:
        prime_tree(x)
        prime_depth(x)


def page(xs):
    prime_page(xs)
    return {"trees": [tree(x) for x in xs], "depths": [depth(x) for x in xs]}


def main(xs):
    return page(xs)
"""


def _migrate(logic: str = LOGIC) -> MigratedSources:
    return migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip()})


def _reasons(result: MigratedSources, function: str) -> list[str]:
    return [r.reason for r in result.refusals if r.function == function]


def test_a_tree_walked_by_recursion_yields_its_calls_on_itself_together():
    result = _migrate()
    assert not result.refusals
    code = result.code["rt/rtlogic.py"]
    assert (
        "@asynq()\n"
        "def tree(x):\n"
        "    row, child_ids_value = yield node_row.asynq(x), child_ids.asynq(x)\n"
        "    user_name_value, tree_values = yield (\n"
        '        user_name.asynq(row["user"]),\n'
        "        [tree.asynq(c) for c in child_ids_value],\n"
        "    )\n"
    ) in code
    assert (
        "    depth_values = yield [depth.asynq(c) for c in children]\n"
        "    return 1 + max(depth_values)\n"
    ) in code


def test_the_twins_of_converted_recursions_are_deleted_with_the_priming_of_the_page():
    code = _migrate().code["rt/rtlogic.py"]
    assert "prime_tree" not in code
    assert "prime_depth" not in code
    assert "@asynq()\ndef page(xs):\n" in code


def test_a_converted_tree_walk_returns_the_same_values_in_as_many_rounds_as_its_twin(
    server: MemcachedServer,
) -> None:
    result = _migrate()
    xs = [0, 1, 5]
    before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), xs)
    after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
    assert [value for value, _ in after] == [value for value, _ in before]
    # cold and warm: one round per level of the deepest tree (4 levels under 0), whatever
    # the number of nodes (the user names of a level join the round of the next level; the
    # last level's are among those already read)
    assert [trips for _, trips in before] == [4, 4]
    assert [trips for _, trips in after] == [4, 4]


SEQUENTIAL = LOGIC.replace(
    """def tree(x):
    row = node_row(x)
    return {
        "label": row["label"],
        "by": user_name(row["user"]),
        "children": [tree(c) for c in child_ids(x)],
    }
""",
    """def tree(x):
    row = node_row(x)
    node = {"label": row["label"], "by": user_name(row["user"])}
    if row["user"] == 3:
        return node
    node["children"] = [tree(c) for c in child_ids(x)]
    return node
""",
)


def test_a_recursion_whose_levels_would_start_later_than_its_twins_is_refused_with_both_counts():
    result = _migrate(SEQUENTIAL)
    assert _reasons(result, "tree") == [
        "tree calls itself; converted, it would read in 3 rounds before its calls on itself "
        "(so each level of the tree would start 3 rounds after the level above) and in 4 "
        "rounds in all, where its twin prime_tree primes the next level after 1 round and "
        "primes in 2 rounds in all, so it could cost more round trips. Put the reads that do "
        "not depend on each other next to each other (or in one statement), then rerun. It "
        "is left working as it is; convert it by hand (for example level by level, yielding "
        "the reads of a whole level together)."
    ]
    assert "def prime_tree" in result.code["rt/rtlogic.py"]


def test_a_refused_recursion_keeps_the_programs_values_and_round_trips(
    server: MemcachedServer,
) -> None:
    result = _migrate(SEQUENTIAL)
    xs = [0, 2]
    before = run(server.address, BASE.lstrip(), SEQUENTIAL.lstrip(), xs)
    after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
    assert [value for value, _ in after] == [value for value, _ in before]
    for (_, trips_before), (_, trips_after) in zip(before, after, strict=True):
        assert trips_after <= trips_before


CHAINED = LOGIC.replace(
    """def depth(x):
    children = child_ids(x)
    if not children:
        return 1
    return 1 + max(depth(c) for c in children)
""",
    """def depth(x):
    children = child_ids(x)
    if not children:
        return 1
    first = depth(children[0])
    return first + depth(children[-1] + first - first)
""",
)


def test_a_recursion_whose_calls_on_itself_wait_for_each_other_is_refused():
    result = _migrate(CHAINED)
    assert _reasons(result, "depth") == [
        "depth calls itself in 2 separate yields (one needs what another returns, or they "
        "are in separate statements), so each waits for the whole walk below the one before "
        "it; its twin primes a whole level together. It is left working as it is; convert it "
        "by hand (for example level by level, yielding the reads of a whole level together)."
    ]


IN_A_LAMBDA = LOGIC.replace(
    "    return 1 + max(depth(c) for c in children)\n",
    "    return 1 + max(map(lambda c: depth(c), children))\n",
)


def test_a_call_on_itself_that_cannot_become_a_yield_is_refused_with_the_place():
    result = _migrate(IN_A_LAMBDA)
    assert _reasons(result, "depth") == [
        "depth calls itself inside a lambda; a lambda cannot yield, so the read cannot join a "
        "batch. Move the read out of the lambda, then rerun. It is left working as it is; "
        "convert it by hand (for example level by level, yielding the reads of a whole level "
        "together)."
    ]


MUTUAL = """
from asynq import priming
from rtbase import child_ids, node_row, prime_child_ids, prime_node_row


def even(x):
    row = node_row(x)
    return [row["label"]] + [odd(c) for c in child_ids(x)]


@priming.generator
def prime_even(x):
    prime_node_row(x)
    prime_child_ids(x)
    yield
    for c in child_ids(x):
        prime_odd(c)


def odd(x):
    return [even(c) for c in child_ids(x)]


@priming.generator
def prime_odd(x):
    prime_child_ids(x)
    yield
    for c in child_ids(x):
        prime_even(c)


def main(xs):
    for x in xs:
        prime_even(x)
    return [even(x) for x in xs]
"""


def test_functions_that_call_each_other_are_converted_and_take_as_many_rounds(
    server: MemcachedServer,
) -> None:
    result = _migrate(MUTUAL)
    assert not result.refusals
    code = result.code["rt/rtlogic.py"]
    assert (
        "    odd_values = yield [odd.asynq(c) for c in child_ids_value]\n"
        '    return [row["label"]] + odd_values\n'
    ) in code
    assert "    return (yield [even.asynq(c) for c in child_ids_value])\n" in code
    for xs in ([0], [0, 5]):
        before = run(server.address, BASE.lstrip(), MUTUAL.lstrip(), xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        assert after == before

"""``while`` loops that walk a chain (each step's read gives the next step) are converted when
their twin walks it too, one step per round: the converted loop reads one step per iteration,
statements kept in order, so it takes the twin's rounds, and walks of several items run as
tasks that share their rounds. A walk that would read in more rounds per iteration than its
twin is refused with both counts; one whose twin does not walk keeps the general reason."""

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


@mc.cached("head")
def head_of(x):
    return x + 1


@mc.cached("link")
def link_row(x):
    return {"v": x * 10, "next": x - 1 if x > 0 else None}


@mc.cached("extra")
def extra_row(v):
    return v // 2


prime_head_of = head_of.prime
prime_link_row = link_row.prime
prime_extra_row = extra_row.prime
"""

LOGIC = """
from asynq import priming
from rtbase import head_of, link_row, prime_head_of, prime_link_row


def chain(x):
    out = []
    step = head_of(x)
    while step is not None:
        row = link_row(step)
        out.append(row["v"])
        step = row["next"]
    return out


@priming.generator
def prime_chain(x):
    prime_head_of(x)
    yield
    step = head_of(x)
    while step is not None:
        prime_link_row(step)
        yield
        step = link_row(step)["next"]


@priming.generator
def prime_steps_of(x):
    step = x
    while step is not None:
        prime_link_row(step)
        yield
        step = link_row(step)["next"]


class Walker:
    def __init__(self, x):
        self.id = x

    def steps(self):
        out = []
        step = self.id
        while step is not None:
            out.append(step)
            step = link_row(step)["next"]
        return out

    def prime_steps(self):
        prime_steps_of(self.id)


def prime_chains_page(xs):
    for x in xs:
        prime_chain(x)


def chains_page(xs):
    prime_chains_page(xs)
    return [chain(x) for x in xs]


def prime_steps_page(xs):
    for x in xs:
        Walker(x).prime_steps()


def steps_page(xs):
    prime_steps_page(xs)
    return [Walker(x).steps() for x in xs]


def main(xs):
    return {"chains": chains_page(xs), "steps": steps_page(xs)}
"""


def _migrate(logic: str = LOGIC) -> MigratedSources:
    return migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip()})


def _reasons(result: MigratedSources, function: str) -> list[str]:
    return [r.reason for r in result.refusals if r.function == function]


def test_a_while_walk_whose_twin_walks_one_step_per_round_reads_one_step_per_iteration():
    result = _migrate()
    assert not result.refusals
    assert (
        "@asynq()\n"
        "def chain(x):\n"
        "    out = []\n"
        "    step = yield head_of.asynq(x)\n"
        "    while step is not None:\n"
        "        row = yield link_row.asynq(step)\n"
        '        out.append(row["v"])\n'
        '        step = row["next"]\n'
        "    return out\n"
    ) in result.code["rt/rtlogic.py"]


def test_a_method_that_walks_is_converted_when_its_twin_hands_over_to_a_walking_generator():
    result = _migrate()
    assert ("rt/rtlogic.py", "Walker.steps") in result.converted
    assert (
        "    @asynq()\n"
        "    def steps(self):\n"
        "        out = []\n"
        "        step = self.id\n"
        "        while step is not None:\n"
        "            out.append(step)\n"
        "            link_row_value = yield link_row.asynq(step)\n"
        '            step = link_row_value["next"]\n'
    ) in result.code["rt/rtlogic.py"]


def test_converted_walks_return_the_same_values_in_as_many_rounds_as_their_twins(
    server: MemcachedServer,
) -> None:
    result = _migrate()
    before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), [3])
    after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], [3])
    assert [value for value, _ in after] == [value for value, _ in before]
    # cold and warm: the head, then one round per step of the chain (5 steps from head 4);
    # the method's walk over the same links reads them from the request's cache
    assert [trips for _, trips in before] == [6, 6]
    assert [trips for _, trips in after] == [6, 6]


def test_converted_walks_of_several_items_share_their_rounds_as_their_twins_did(
    server: MemcachedServer,
) -> None:
    result = _migrate()
    xs = [0, 3, 1, 2]
    before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), xs)
    after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
    assert [value for value, _ in after] == [value for value, _ in before]
    assert [trips for _, trips in after] == [trips for _, trips in before]
    assert all(trips < 6 for _, trips in after)


SLOWER = (
    LOGIC.replace(
        """        row = link_row(step)
        out.append(row["v"])
        step = row["next"]
    return out
""",
        """        row = link_row(step)
        out.append(extra_row(row["v"]))
        step = row["next"]
    return out
""",
    )
    .replace(
        """    while step is not None:
        prime_link_row(step)
        yield
        step = link_row(step)["next"]


@priming.generator
def prime_steps_of""",
        """    while step is not None:
        prime_link_row(step)
        yield
        prime_extra_row(link_row(step)["v"])
        step = link_row(step)["next"]


@priming.generator
def prime_steps_of""",
    )
    .replace(
        "prime_head_of, prime_link_row", "prime_extra_row, prime_head_of, prime_link_row, extra_row"
    )
)


def test_a_walk_that_would_read_in_more_rounds_per_iteration_than_its_twin_is_refused():
    result = _migrate(SLOWER)
    assert _reasons(result, "chain") == [
        "chain reads link_row (in rt/rtbase.py) inside a `while` loop; converted, chain would "
        "read in 2 rounds per iteration, 1 before the loop and 0 after it, where its twin "
        "prime_chain primes in 1 round per iteration, 1 before its loop and 0 after it, so it "
        "could cost more round trips. Put the reads of an iteration next to each other (or in "
        "one statement), then rerun.",
        "chain reads extra_row (in rt/rtbase.py) inside a `while` loop; converted, chain would "
        "read in 2 rounds per iteration, 1 before the loop and 0 after it, where its twin "
        "prime_chain primes in 1 round per iteration, 1 before its loop and 0 after it, so it "
        "could cost more round trips. Put the reads of an iteration next to each other (or in "
        "one statement), then rerun.",
    ]


def test_a_refused_walk_keeps_the_programs_values_and_round_trips(
    server: MemcachedServer,
) -> None:
    result = _migrate(SLOWER)
    xs = [2, 0]
    before = run(server.address, BASE.lstrip(), SLOWER.lstrip(), xs)
    after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
    assert [value for value, _ in after] == [value for value, _ in before]
    for (_, trips_before), (_, trips_after) in zip(before, after, strict=True):
        assert trips_after <= trips_before


NO_WALKING_TWIN = LOGIC.replace(
    """    while step is not None:
        prime_link_row(step)
        yield
        step = link_row(step)["next"]


@priming.generator
def prime_steps_of""",
    """    prime_link_row(step)


@priming.generator
def prime_steps_of""",
)


def test_a_walk_whose_twin_does_not_walk_keeps_the_general_reason():
    result = _migrate(NO_WALKING_TWIN)
    assert _reasons(result, "chain") == [
        "chain reads link_row (in rt/rtbase.py) inside a `while` loop whose number of rounds "
        "may depend on the values read; converting it would cost one round trip per "
        "iteration. Rewrite it as a `for` loop or a comprehension, then rerun."
    ]


TWO_WALKS = LOGIC[: LOGIC.index("def prime_chains_page")] + (
    """def prime_page(xs):
    for x in xs:
        prime_chain(x)
        Walker(x).prime_steps()


def page(xs):
    prime_page(xs)
    return {"chains": [chain(x) for x in xs], "steps": [Walker(x).steps() for x in xs]}


def main(xs):
    return page(xs)
"""
)
WALKS_REASON = (
    "page reads walks (Walker.steps, chain) in 2 separate yields (separate statements, or "
    "reads whose receiver or arguments call something), so each would wait for the whole "
    "walk before it, where its twin primes them together. Read them in one statement whose "
    "arguments call nothing, then rerun."
)


def test_a_view_that_reads_two_walks_in_separate_yields_keeps_calling_its_twin():
    result = _migrate(TWO_WALKS)
    assert ("rt/rtlogic.py", "page") in result.converted
    code = result.code["rt/rtlogic.py"]
    assert "@asynq()\ndef page(xs):\n    prime_page(xs)\n" in code
    kept = {k.function: k.reason for k in result.kept}
    assert kept["prime_page"] == (
        "prime_page is kept: page (in rt/rtlogic.py) is converted and keeps calling it; its "
        "priming, which now joins the rounds of page, serves the reads page leaves as plain "
        "calls. " + WALKS_REASON
    )


def test_a_view_that_reads_two_walks_in_separate_yields_without_its_twin_is_refused():
    logic = TWO_WALKS.replace("    prime_page(xs)\n    return {", "    return {").replace(
        "    return page(xs)\n", "    prime_page(xs)\n    return page(xs)\n"
    )
    result = _migrate(logic)
    assert _reasons(result, "page") == [WALKS_REASON]


@pytest.mark.parametrize("view_primes", [True, False])
def test_a_view_that_reads_two_walks_keeps_its_values_and_round_trips(
    server: MemcachedServer, view_primes: bool
) -> None:
    logic = TWO_WALKS
    if not view_primes:
        logic = logic.replace("    prime_page(xs)\n    return {", "    return {").replace(
            "    return page(xs)\n", "    prime_page(xs)\n    return page(xs)\n"
        )
    result = _migrate(logic)
    for xs in ([0, 3, 1], [3], [2, 5]):
        before = run(server.address, BASE.lstrip(), logic.lstrip(), xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        assert [value for value, _ in after] == [value for value, _ in before]
        for (_, trips_before), (_, trips_after) in zip(before, after, strict=True):
            assert trips_after <= trips_before

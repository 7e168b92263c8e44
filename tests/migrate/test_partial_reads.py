"""A function whose own reads cannot all become yields is converted when it calls its twin
itself: the reads that can become yields do, the others stay plain calls served by the twin's
priming (which now joins the function's rounds), and the twin stays, reported with why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import run
from tests.migrate.test_self_priming import BASE


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


LOGIC = """
from asynq import priming
from rtbase import blurb_row, prime_blurb_row, prime_rank_row, prime_title_row, rank_row, title_row


@priming.generator
def prime_walk(x):
    prime_title_row(x)
    prime_rank_row(x)
    yield
    prime_blurb_row(rank_row(x))


def walk(x):
    prime_walk(x)
    seen = [title_row(x)]
    step = rank_row(x)
    while step > 0:
        seen.append(blurb_row(step))
        step -= 2
    return seen


def prime_page(xs):
    for x in xs:
        prime_walk(x)


def page(xs):
    prime_page(xs)
    return [walk(x) for x in xs]


def main(xs):
    return page(xs)
"""


def _migrate(logic: str = LOGIC) -> object:
    return migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip()})


def test_a_read_that_cannot_become_a_yield_stays_a_plain_call_of_a_converted_function():
    result = _migrate()
    assert ("rt/rtlogic.py", "walk") in result.converted  # type: ignore[attr-defined]
    assert ("rt/rtlogic.py", "page") in result.converted  # type: ignore[attr-defined]
    code = result.code["rt/rtlogic.py"]  # type: ignore[attr-defined]
    assert (
        "@asynq()\n"
        "def walk(x):\n"
        "    prime_walk(x)\n"
        "    seen, step = yield [title_row.asynq(x)], rank_row.asynq(x)\n"
        "    while step > 0:\n"
        "        seen.append(blurb_row(step))\n"
    ) in code
    assert "@asynq()\ndef page(xs):\n    return (yield [walk.asynq(x) for x in xs])\n" in code
    assert "def prime_page" not in code
    assert not [r for r in result.refusals if r.path == "rt/rtlogic.py"]  # type: ignore[attr-defined]


def test_the_twin_it_keeps_calling_is_reported_with_the_reads_left_as_plain_calls():
    result = _migrate()
    kept = {k.function: k.reason for k in result.kept}  # type: ignore[attr-defined]
    assert kept["prime_walk"] == (
        "prime_walk is kept: walk (in rt/rtlogic.py) is converted and keeps calling it; its "
        "priming, which now joins the rounds of walk, serves the reads walk leaves as plain "
        "calls. walk reads blurb_row (in rt/rtbase.py) inside a `while` loop whose number of "
        "rounds may depend on the values read; converting it would cost one round trip per "
        "iteration. Rewrite it as a `for` loop or a comprehension, then rerun."
    )


def test_a_function_with_such_a_read_that_does_not_call_its_twin_is_still_refused():
    result = _migrate(LOGIC.replace("    prime_walk(x)\n    seen", "    seen"))
    assert ("rt/rtlogic.py", "walk") not in result.converted  # type: ignore[attr-defined]
    reasons = [r.reason for r in result.refusals if r.function == "walk"]  # type: ignore[attr-defined]
    assert reasons == [
        "walk reads blurb_row (in rt/rtbase.py) inside a `while` loop whose number of rounds "
        "may depend on the values read; converting it would cost one round trip per "
        "iteration. Rewrite it as a `for` loop or a comprehension, then rerun."
    ]


def test_the_converted_program_returns_the_same_values_with_no_more_round_trips(
    server: MemcachedServer,
) -> None:
    result = _migrate()
    xs = [1, 2, 3, 4]
    before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), xs)
    after = run(
        server.address,
        result.code["rt/rtbase.py"],  # type: ignore[attr-defined]
        result.code["rt/rtlogic.py"],  # type: ignore[attr-defined]
        xs,
    )
    assert [value for value, _ in after] == [value for value, _ in before]
    for (_, trips_before), (_, trips_after) in zip(before, after, strict=True):
        assert trips_after <= trips_before

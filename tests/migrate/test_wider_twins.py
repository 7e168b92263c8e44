"""A function whose twin primes more than it reads (through a helper, a method's twin, or a
function left unconverted) and that does not call its twin is converted with a call of its
twin added as its first statement: that priming joins the function's rounds, as the
callers' priming did before. The twin must take the same parameters and do nothing but
prime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import run


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


BASE = """
from rtcache import mc


@mc.cached("ids")
def ids_of(x):
    return [x * 10 + i for i in range(3)]


@mc.cached("row")
def row(y):
    return {"id": y, "cents": y * 3, "hidden": y % 4 == 0}


prime_ids_of = ids_of.prime
prime_row = row.prime
"""

LOGIC = """
import contextlib

from asynq import priming
from rtbase import ids_of, prime_ids_of, prime_row, row

LOCK = contextlib.nullcontext()


def visible_cents(y):
    with LOCK:
        entry = row(y)
    return 0 if entry["hidden"] else entry["cents"]


def spend(x):
    \"\"\"What x spent, hidden rows left out.\"\"\"
    return sum([visible_cents(y) for y in ids_of(x)])


@priming.generator
def prime_spend(x):
    prime_ids_of(x)
    yield
    for y in ids_of(x):
        prime_row(y)


def stuck(y):
    with LOCK:
        return row(y)


def prime_stuck(y):
    prime_row(y)


def label(x):
    return "%d: %s" % (x, [stuck(y)["id"] for y in ids_of(x)])


@priming.generator
def prime_label(x):
    prime_ids_of(x)
    yield
    for y in ids_of(x):
        prime_stuck(y)


def page(xs):
    return {"spend": [spend(x) for x in xs], "labels": [label(x) for x in xs]}


def prime_page(xs):
    for x in xs:
        prime_spend(x)
        prime_label(x)


def main(xs):
    prime_page(xs)
    return page(xs)
"""


def _migrate(logic: str = LOGIC):
    return migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip()})


def test_a_function_whose_twin_primes_what_it_reads_through_a_helper_calls_its_twin_first():
    result = _migrate()
    assert ("rt/rtlogic.py", "spend") in result.converted
    code = result.code["rt/rtlogic.py"]
    assert (
        '@asynq()\ndef spend(x):\n    """What x spent, hidden rows left out."""\n'
        "    prime_spend(x)\n"
    ) in code
    assert [n.message for n in result.notes if n.function == "spend"] == [
        "spend now starts with `prime_spend(x)`: its twin primes more than it reads, and that "
        "priming joins the rounds of spend, as the callers' priming did before."
    ]
    assert [k.reason for k in result.kept if k.function == "prime_spend"] == [
        "prime_spend is kept: spend (in rt/rtlogic.py) is converted and now calls it first: "
        "its twin primes more than it reads, and that priming joins the rounds of spend."
    ]


def test_a_function_that_reads_a_function_left_unconverted_calls_its_twin_first():
    result = _migrate()
    assert ("rt/rtlogic.py", "stuck") not in result.converted
    assert ("rt/rtlogic.py", "label") in result.converted
    assert "def label(x):\n    prime_label(x)\n" in result.code["rt/rtlogic.py"]
    # stuck stays as it is, and so does the twin label's twin primes it through.
    assert "def prime_stuck(y):" in result.code["rt/rtlogic.py"]


def test_the_view_that_reads_those_functions_is_converted_too():
    result = _migrate()
    assert ("rt/rtlogic.py", "page") in result.converted
    assert "[spend.asynq(x) for x in xs]" in result.code["rt/rtlogic.py"]


def test_a_twin_with_a_side_effect_is_not_added_and_the_refusal_says_why():
    logic = LOGIC.replace(
        "def prime_spend(x):\n    prime_ids_of(x)\n",
        "def prime_spend(x):\n    BILLED.append(x)\n    prime_ids_of(x)\n",
    ).replace("LOCK = contextlib.nullcontext()", "LOCK = contextlib.nullcontext()\nBILLED = []")
    result = _migrate(logic)
    assert ("rt/rtlogic.py", "spend") not in result.converted
    reasons = [r.reason for r in result.refusals if r.function == "spend"]
    assert reasons[-1] == (
        "spend could be converted with a call of prime_spend as its first statement, but "
        "besides priming prime_spend runs `BILLED.append(x)`, which would then run once more "
        "for each call of spend. Move that effect out of prime_spend, then rerun."
    )


def test_a_twin_that_takes_other_parameters_is_not_added():
    logic = LOGIC.replace(
        "def prime_spend(x):\n    prime_ids_of(x)\n    yield\n    for y in ids_of(x):",
        "def prime_spend(user):\n    prime_ids_of(user)\n    yield\n    for y in ids_of(user):",
    )
    result = _migrate(logic)
    assert ("rt/rtlogic.py", "spend") not in result.converted
    assert [r.reason for r in result.refusals if r.function == "spend"] == [
        "its twin prime_spend primes row (in rt/rtbase.py), but spend never reads row "
        "directly (maybe through "
        "a helper function), so converting would lose that batching. Give the helper its own "
        "twin or read the value in spend, then rerun."
    ]


def test_functions_that_call_their_twin_first_keep_outputs_and_round_trips(server):
    result = _migrate()
    for xs in ([3], [1, 4, 2], [5, 9, 7, 8]):
        before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
            assert new_value == old_value
            assert new_trips <= old_trips, result.code["rt/rtlogic.py"]


def test_the_added_call_passes_keyword_only_parameters_by_name():
    logic = LOGIC.replace("def spend(x):", "def spend(x, *, scale):").replace(
        "    return sum([visible_cents(y) for y in ids_of(x)])",
        "    return scale * sum([visible_cents(y) for y in ids_of(x)])",
    ).replace("def prime_spend(x):", "def prime_spend(x, *, scale):").replace(
        '{"spend": [spend(x) for x in xs]', '{"spend": [spend(x, scale=2) for x in xs]'
    ).replace("        prime_spend(x)\n", "        prime_spend(x, scale=2)\n")
    result = _migrate(logic)
    assert ("rt/rtlogic.py", "spend") in result.converted
    assert "    prime_spend(x, scale=scale)\n" in result.code["rt/rtlogic.py"]

"""A function whose twin primes more than it reads (through a method twin, a helper, an object)
is converted when it calls its twin itself: it keeps that call, whose priming joins its rounds
(see ``asynq.priming``), and the twin stays, reported under ``kept``."""

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
from rtbase import Book, blurb_row, rank_row


def prime_ranked(book_ids):
    Book.prime_ranks(book_ids)


def ranked(book_ids):
    prime_ranked(book_ids)
    return Book.ranks(book_ids)


@priming.generator
def prime_page(book_ids):
    prime_ranked(book_ids)
    yield
    for r in Book.ranks(book_ids):
        blurb_row.prime(r)


def page(book_ids):
    prime_page(book_ids)
    ranks = ranked(book_ids)
    return [blurb_row(r) for r in ranks], [rank_row(b) for b in book_ids]


def main(xs):
    return page(xs), ranked(xs[:1])
"""


def _migrate() -> object:
    return migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": LOGIC.lstrip()})


def test_a_function_that_calls_its_twin_is_converted_though_the_twin_primes_more():
    result = _migrate()
    assert ("rt/rtlogic.py", "ranked") in result.converted  # type: ignore[attr-defined]
    assert ("rt/rtlogic.py", "page") in result.converted  # type: ignore[attr-defined]
    code = result.code["rt/rtlogic.py"]  # type: ignore[attr-defined]
    assert (
        "@asynq()\ndef ranked(book_ids):\n    prime_ranked(book_ids)\n"
        "    return (yield Book.ranks.asynq(book_ids))\n"
    ) in code
    # page reads ranked, whose twin it primes: converted as usual, its twin goes.
    assert "@asynq()\ndef page(book_ids):\n    ranks = yield ranked.asynq(book_ids)\n" in code
    assert "prime_page" not in code
    kept = {k.function: k.reason for k in result.kept}  # type: ignore[attr-defined]
    assert kept["prime_ranked"] == (
        "prime_ranked is kept: ranked (in rt/rtlogic.py) is converted and keeps calling it: "
        "its twin primes more than it reads, and that priming now joins the rounds of ranked."
    )
    assert not [r for r in result.refusals if r.path == "rt/rtlogic.py"]  # type: ignore[attr-defined]


def test_a_function_that_does_not_call_its_twin_is_converted_with_a_call_of_it_first():
    logic = LOGIC.replace("    prime_ranked(book_ids)\n    return", "    return").replace(
        "    return page(xs), ranked(xs[:1])",
        "    prime_ranked(xs[:1])\n    return page(xs), ranked(xs[:1])",
    )
    result = migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip()})
    assert ("rt/rtlogic.py", "ranked") in result.converted
    assert "def ranked(book_ids):\n    prime_ranked(book_ids)\n" in result.code["rt/rtlogic.py"]
    assert [n.message for n in result.notes if n.function == "ranked"] == [
        "ranked now starts with `prime_ranked(book_ids)`: its twin primes more than it reads, "
        "and that priming joins the rounds of ranked, as the callers' priming did before."
    ]


def test_a_twin_call_is_not_added_when_a_caller_never_primed_the_function():
    # main reads ranked without priming it: a call of prime_ranked added to ranked would
    # fetch, for main's call, keys the original program never read.
    logic = LOGIC.replace("    prime_ranked(book_ids)\n    return", "    return")
    result = migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip()})
    assert ("rt/rtlogic.py", "ranked") not in result.converted
    assert "prime_ranked(book_ids)\n    return" not in result.code["rt/rtlogic.py"]
    reasons = [r.reason for r in result.refusals if r.function == "ranked"]
    assert reasons[-1] == (
        "ranked could be converted with a call of prime_ranked as its first statement, but "
        "main calls ranked without priming it, so that call would then fetch keys the "
        "original never read (one more round trip). Prime ranked in main too, or convert it "
        "by hand, then rerun."
    )


def test_a_function_whose_twin_takes_other_parameters_is_still_refused():
    logic = (
        LOGIC.replace("    prime_ranked(book_ids)\n    return", "    return")
        .replace("def prime_ranked(book_ids):", "def prime_ranked(ids):")
        .replace("Book.prime_ranks(book_ids)", "Book.prime_ranks(ids)")
    )
    result = migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip()})
    assert ("rt/rtlogic.py", "ranked") not in result.converted
    reasons = [r.reason for r in result.refusals if r.function == "ranked"]
    assert reasons == [
        "its twin prime_ranked calls Book.prime_ranks, but Book.prime_ranks primes Book.rank, "
        "which Book.ranks does not read, so reading Book.ranks instead would lose that "
        "batching. Make the twin prime only what Book.ranks reads, or convert ranked by hand, "
        "then rerun."
    ]


def test_keeping_the_twin_call_returns_the_same_values_with_no_more_round_trips(
    server: MemcachedServer,
) -> None:
    result = _migrate()
    before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), [1, 2, 3])
    after = run(
        server.address,
        result.code["rt/rtbase.py"],  # type: ignore[attr-defined]
        result.code["rt/rtlogic.py"],  # type: ignore[attr-defined]
        [1, 2, 3],
    )
    assert [value for value, _ in after] == [value for value, _ in before]
    for (_, trips_before), (_, trips_after) in zip(before, after, strict=True):
        assert trips_after <= trips_before

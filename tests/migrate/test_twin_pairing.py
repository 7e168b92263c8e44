"""Priming functions not named after their function are paired with it by how they are
called: at the start of the function with its own arguments (``def dashboard_page(x):
prime_dashboard(x)``), or right before a call of it with the same arguments
(``prime_card_rows(x)`` then ``row = card(x)``), when that pairing is unambiguous. The pair
is then decided like any twin and function, and the pairing is reported as a note."""

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


@mc.cached("title")
def title_row(x):
    return "title-%d" % x


@mc.cached("rank")
def rank_row(x):
    return x * 7 % 5


@mc.cached("blurb")
def blurb_row(x):
    return "blurb-%d" % x


prime_title_row = title_row.prime
prime_rank_row = rank_row.prime
prime_blurb_row = blurb_row.prime
"""

LOGIC = """
from rtbase import prime_rank_row, prime_title_row, rank_row, title_row


def prime_dashboard(x):
    prime_title_row(x)
    prime_rank_row(x)


def dashboard_page(x):
    prime_dashboard(x)
    return {"title": title_row(x), "rank": rank_row(x)}


def prime_card_rows(x):
    prime_title_row(x)
    prime_rank_row(x)


def card(x):
    return (title_row(x), rank_row(x))


def main(xs):
    out = []
    for x in xs:
        prime_card_rows(x)
        row = card(x)
        out.append(row)
    return out, [dashboard_page(x) for x in xs]
"""


def _migrate(logic: str = LOGIC, **extra: str):
    return migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip(), **extra})


def test_a_priming_function_called_at_the_start_of_a_function_with_its_arguments_is_its_twin():
    result = _migrate()
    assert ("rt/rtlogic.py", "dashboard_page") in result.converted
    code = result.code["rt/rtlogic.py"]
    assert (
        "@asynq()\ndef dashboard_page(x):\n"
        '    return (yield {"title": title_row.asynq(x), "rank": rank_row.asynq(x)})\n'
    ) in code
    assert "def prime_dashboard" not in code  # nothing calls it any more
    assert [(n.function, n.line, n.message) for n in result.notes if n.function == "dashboard_page"] == [
        (
            "dashboard_page",
            9,
            "prime_dashboard is dashboard_page's twin: it is called at its start with the "
            "same arguments.",
        )
    ]


def test_a_priming_function_that_callers_call_right_before_a_function_is_its_twin():
    result = _migrate()
    assert ("rt/rtlogic.py", "card") in result.converted
    assert [n.message for n in result.notes if n.function == "card"] == [
        "prime_card_rows is card's twin: main calls card right after it, with the same "
        "arguments."
    ]
    # main stays legacy and keeps priming, so the twin stays, and says why.
    assert [k.reason for k in result.kept if k.function == "prime_card_rows"] == [
        "prime_card_rows is kept: main (in rt/rtlogic.py) is not converted and still calls "
        "it, so the plain calls that follow keep batching. It goes once its callers are "
        "converted."
    ]


def test_paired_functions_count_among_the_primed_functions_when_they_are_refused():
    logic = LOGIC.replace(
        "def card(x):\n    return (title_row(x), rank_row(x))\n",
        "def card(x):\n    with open(__file__):\n        return (title_row(x), rank_row(x))\n",
    )
    result = _migrate(logic)
    assert ("rt/rtlogic.py", "card") not in result.converted
    assert {r.function for r in result.refusals} == {"card"}
    # Its twin stays for it, and the report says so.
    assert [k.reason for k in result.kept if k.function == "prime_card_rows"] == [
        "prime_card_rows is kept: it is the twin of card (main calls card right after it, "
        "with the same arguments), which is left for review, so the legacy code that calls it "
        "stays as it is."
    ]


def test_a_priming_function_that_goes_with_two_functions_is_paired_with_neither():
    logic = LOGIC + (
        "\n\ndef other_page(x):\n    prime_dashboard(x)\n    return title_row(x)\n"
    )
    result = _migrate(logic)
    assert ("rt/rtlogic.py", "dashboard_page") not in result.converted
    assert ("rt/rtlogic.py", "other_page") not in result.converted
    assert [k.reason for k in result.kept if k.function == "prime_dashboard"] == [
        "prime_dashboard is kept: it is a priming function with no function dashboard to "
        "convert; dashboard_page and other_page each go with it (called at their start with "
        "the same arguments, or right after it with them), so it is paired with none of "
        "them. The legacy code that calls it stays as it is."
    ]


def test_a_function_that_two_priming_functions_go_with_is_paired_with_neither():
    logic = LOGIC.replace(
        "def card(x):",
        "def prime_title_only(x):\n    prime_title_row(x)\n\n\ndef card(x):",
    ).replace(
        "        prime_card_rows(x)\n        row = card(x)\n",
        "        prime_card_rows(x)\n        row = card(x)\n        prime_title_only(x)\n"
        "        card(x)\n",
    )
    result = _migrate(logic)
    assert ("rt/rtlogic.py", "card") not in result.converted
    assert [k.reason for k in result.kept if k.function == "prime_card_rows"] == [
        "prime_card_rows is kept: it is a priming function with no function card_rows to "
        "convert; card goes with it, but also with prime_title_only, so it is paired with "
        "neither. The legacy code that calls it stays as it is."
    ]


def test_a_priming_function_at_the_start_of_a_cached_function_is_no_twin():
    logic = """
from rtcache import mc
from rtbase import prime_rank_row, rank_row


def prime_ranks_below(x):
    for y in range(x):
        prime_rank_row(y)


@mc.cached("total")
def total_rank(x):
    prime_ranks_below(x)
    return sum(rank_row(y) for y in range(x))


def main(xs):
    return [total_rank(x) for x in xs]
"""
    result = _migrate(logic)
    assert result.code["rt/rtlogic.py"] == logic.lstrip()
    assert [k.reason for k in result.kept if k.function == "prime_ranks_below"] == [
        "prime_ranks_below is kept: it is a priming function with no function ranks_below "
        "to convert; the function it goes with, total_rank, is a cached function, so it is "
        "not that function's twin. The legacy code that calls it stays as it is."
    ]


def test_a_twin_in_another_module_is_paired_and_named_with_its_file():
    primers = """
from rtbase import prime_rank_row, prime_title_row


def prime_dashboard(x):
    prime_title_row(x)
    prime_rank_row(x)
"""
    logic = """
from rtbase import rank_row, title_row
from rtprimers import prime_dashboard


def dashboard_page(x):
    prime_dashboard(x)
    return {"title": title_row(x), "rank": rank_row(x)}


def main(xs):
    return [dashboard_page(x) for x in xs]
"""
    result = _migrate(logic, **{"rt/rtprimers.py": primers.lstrip()})
    assert ("rt/rtlogic.py", "dashboard_page") in result.converted
    assert [n.message for n in result.notes] == [
        "prime_dashboard (in rt/rtprimers.py) is dashboard_page's twin: it is called at its "
        "start with the same arguments."
    ]
    assert "prime_dashboard" not in result.code["rt/rtlogic.py"]
    assert "def prime_dashboard" not in result.code["rt/rtprimers.py"]


HELD = """
from rtbase import prime_blurb_row, prime_title_row, blurb_row, title_row

PRIMERS = {"title": prime_title_row, "blurb": prime_blurb_row}
READERS = {"title": title_row, "blurb": blurb_row}


def prime_widget(kind, x):
    primer = PRIMERS.get(kind)
    primer(x)


def block(kind, x):
    return READERS[kind](x)


def widget_page(kind, x):
    prime_widget(kind, x)
    return {"block": block(kind, x), "title": title_row(x)}


def main(xs):
    out = []
    for x in xs:
        prime_widget("blurb", x)
        out.append(widget_page("blurb", x))
    return out
"""


def test_a_twin_that_primes_through_a_function_held_in_a_variable_is_not_followed():
    result = _migrate(HELD)
    assert ("rt/rtlogic.py", "widget_page") in result.converted
    # widget_page calls its twin, whose priming serves block's plain read: the call stays.
    assert "    prime_widget(kind, x)\n" in result.code["rt/rtlogic.py"].split("def widget_page")[1]
    # A call the analysis cannot name counts as more than priming, so the twin is kept.
    reasons = [k.reason for k in result.kept if k.function == "prime_widget"]
    assert reasons == [
        "prime_widget is kept although widget_page is converted: besides priming it runs "
        "`primer(x)`, which its callers may rely on. Move that effect where it belongs, then "
        "delete prime_widget by hand."
    ]


def test_a_function_whose_paired_twin_primes_through_a_variable_and_is_not_called_is_refused():
    logic = HELD.replace(
        "def widget_page(kind, x):\n    prime_widget(kind, x)\n",
        "def widget_page(kind, x):\n",
    ).replace(
        "        prime_widget(\"blurb\", x)\n        out.append(widget_page(\"blurb\", x))\n",
        "        prime_widget(\"blurb\", x)\n        row = widget_page(\"blurb\", x)\n"
        "        out.append(row)\n",
    )
    result = _migrate(logic)
    assert ("rt/rtlogic.py", "widget_page") not in result.converted
    assert [r.reason for r in result.refusals if r.function == "widget_page"] == [
        "its twin prime_widget calls `primer(x)`, a function held in a variable, so what it "
        "primes cannot be known. Spell the priming call out, then rerun.",
    ]


def test_a_paired_twin_with_a_side_effect_is_kept_and_its_function_keeps_calling_it():
    logic = LOGIC.replace(
        "def prime_dashboard(x):\n",
        "LOG = []\n\n\ndef prime_dashboard(x):\n    LOG.append(x)\n",
    )
    result = _migrate(logic)
    assert ("rt/rtlogic.py", "dashboard_page") in result.converted
    code = result.code["rt/rtlogic.py"]
    assert "def dashboard_page(x):\n    prime_dashboard(x)\n" in code
    assert [k.reason for k in result.kept if k.function == "prime_dashboard"] == [
        "prime_dashboard is kept although dashboard_page is converted: besides priming it "
        "runs `LOG.append(x)`, which its callers may rely on. Move that effect where it "
        "belongs, then delete prime_dashboard by hand."
    ]


@pytest.mark.parametrize(
    "logic",
    [LOGIC, HELD],
    ids=["at-the-start-and-right-before", "primed-through-a-variable"],
)
def test_paired_twins_migrated_give_the_same_outputs_with_no_more_round_trips(server, logic):
    sources = {"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": logic.lstrip()}
    result = migrate_sources(sources)
    assert result.notes
    for xs in ([3], [1, 4, 2], [5, 9, 7, 8]):
        before = run(server.address, sources["rt/rtbase.py"], sources["rt/rtlogic.py"], xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
            assert new_value == old_value
            assert new_trips <= old_trips, result.code["rt/rtlogic.py"]

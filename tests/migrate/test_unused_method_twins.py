"""The twin of a converted method is deleted when nothing left after the migration uses its
name: no call or attribute on any object, no ``getattr`` and no string mentions it, in any
file of the run. A name-based test is conservative: any use keeps the twin. A twin that does
more than prime is kept."""

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


prime_title_row = title_row.prime
prime_rank_row = rank_row.prime


class Book:
    def __init__(self, book_id):
        self.id = book_id

    def card(self):
        return {"title": title_row(self.id), "rank": rank_row(self.id)}

    def prime_card(self):
        prime_title_row(self.id)
        prime_rank_row(self.id)

    def title(self):
        return title_row(self.id)

    def prime_title(self):
        prime_title_row(self.id)

    prime_heading = prime_title

    def heading(self):
        return title_row(self.id).upper()
"""

LOGIC = """
from rtbase import Book


def card_page(book_id):
    book = Book(book_id)
    return {"card": book.card(), "title": book.title(), "heading": book.heading()}


def prime_card_page(book_id):
    book = Book(book_id)
    book.prime_card()
    book.prime_title()
    book.prime_heading()


def main(xs):
    return [card_page(x) for x in xs]
"""


def _migrate(base: str = BASE, logic: str = LOGIC, **extra: str):
    return migrate_sources({"rt/rtbase.py": base.lstrip(), "rt/rtlogic.py": logic.lstrip(), **extra})


def _deleted(result) -> list[str]:
    return [n.function for n in result.notes if n.message.startswith("Deleted ")]


def test_the_twins_of_converted_methods_that_nothing_uses_are_deleted_with_a_note():
    result = _migrate()
    assert ("rt/rtlogic.py", "card_page") in result.converted
    code = result.code["rt/rtbase.py"]
    assert "prime_card" not in code and "def prime_title" not in code
    assert "prime_heading" not in code
    # The aliases of the cached functions go too: only the deleted twins used them.
    assert "prime_title_row" not in code and "prime_rank_row" not in code
    assert _deleted(result) == ["Book.prime_card", "Book.prime_heading", "Book.prime_title"]
    note = next(n for n in result.notes if n.function == "Book.prime_card")
    assert note.line == BASE.lstrip().splitlines().index("    def prime_card(self):") + 1
    assert note.message == (
        "Deleted Book.prime_card, the twin of Book.card, which is converted: nothing left in "
        "the files being migrated uses the name prime_card (no call, attribute, name or "
        "string mentions it)."
    )
    assert not [k for k in result.kept if k.function.startswith("Book.")]


def test_a_twin_whose_name_is_used_on_any_object_is_kept_and_says_where():
    other = """
def warm(thing):
    thing.prime_card()
"""
    result = _migrate(**{"rt/rtother.py": other.lstrip()})
    assert "    def prime_card(self):\n" in result.code["rt/rtbase.py"]
    assert [k.reason for k in result.kept if k.function == "Book.prime_card"] == [
        "Book.prime_card is kept: Book.card is converted, but the name prime_card is still "
        "used in warm (in rt/rtother.py), and a method twin stays while anything may call it "
        "by its name. Delete it once nothing uses it."
    ]
    assert "Book.prime_card" not in _deleted(result)


def test_a_twin_whose_name_is_in_a_string_is_kept():
    other = """
PRIMERS = {"card": "prime_card"}
"""
    result = _migrate(**{"rt/rtother.py": other.lstrip()})
    assert "    def prime_card(self):\n" in result.code["rt/rtbase.py"]
    assert [k.reason for k in result.kept if k.function == "Book.prime_card"] == [
        "Book.prime_card is kept: Book.card is converted, but the name prime_card is still "
        "used in module-level code (in rt/rtother.py), and a method twin stays while anything "
        "may call it by its name. Delete it once nothing uses it."
    ]


def test_an_alias_in_the_class_body_that_stays_keeps_the_method_it_names():
    other = """
def warm(thing):
    thing.prime_heading()
"""
    result = _migrate(**{"rt/rtother.py": other.lstrip()})
    code = result.code["rt/rtbase.py"]
    assert "    prime_heading = prime_title\n" in code
    assert "    def prime_title(self):\n" in code
    assert [k.reason for k in result.kept if k.function == "Book.prime_title"] == [
        "Book.prime_title is kept: Book.title is converted, but the name prime_title is "
        "still used in Book.prime_heading (in rt/rtbase.py), and a method twin stays while "
        "anything may call it by its name. Delete it once nothing uses it."
    ]


def test_a_method_twin_with_a_side_effect_is_kept():
    base = BASE.replace(
        "    def prime_card(self):\n",
        "    def prime_card(self):\n        SEEN.append(self.id)\n",
    ).replace("class Book:", "SEEN = []\n\n\nclass Book:")
    result = _migrate(base)
    assert "        SEEN.append(self.id)\n" in result.code["rt/rtbase.py"]
    assert [k.reason for k in result.kept if k.function == "Book.prime_card"] == [
        "Book.prime_card is kept although Book.card is converted: besides priming it runs "
        "`SEEN.append(self.id)`, which its callers may rely on. Move that effect where it "
        "belongs, then delete Book.prime_card by hand."
    ]


def test_deleting_unused_method_twins_is_idempotent():
    first = _migrate()
    again = migrate_sources(first.code)
    assert again.code == first.code
    assert _deleted(again) == []


def test_deleting_unused_method_twins_keeps_outputs_and_round_trips(server):
    result = _migrate()
    for xs in ([3], [1, 4, 2]):
        before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
            assert new_value == old_value
            assert new_trips <= old_trips, result.code["rt/rtlogic.py"]

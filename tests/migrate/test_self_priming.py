"""Method twins that prime through ``self`` and ``cls``: ``self.prime()``,
``self.prime_row()``, ``cls(x).prime_m()``, ``cls.prime_m()``. They are followed when the
class is certain (no class in the program subclasses it); otherwise the refusal stays."""

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


class Book:
    def __init__(self, book_id):
        self.id = book_id

    def prime(self):
        prime_title_row(self.id)

    def card(self):
        return {"title": title_row(self.id), "rank": rank_row(self.id)}

    def prime_card(self):
        self.prime()
        prime_rank_row(self.id)

    def rank(self):
        return rank_row(self.id)

    def prime_rank(self):
        prime_rank_row(self.id)

    @classmethod
    def ranks(cls, book_ids):
        return [rank_row(b) for b in book_ids]

    @classmethod
    def prime_ranks(cls, book_ids):
        for b in book_ids:
            cls(b).prime_rank()

    @classmethod
    def cards(cls, book_ids):
        return [title_row(b) for b in book_ids]

    @classmethod
    def prime_cards(cls, book_ids):
        for b in book_ids:
            cls.prime_title(b)

    @staticmethod
    def title(book_id):
        return title_row(book_id)

    @staticmethod
    def prime_title(book_id):
        prime_title_row(book_id)
"""

LOGIC = """
from rtbase import Book


def featured(book_id):
    book = Book(book_id)
    return book.card()


def prime_featured(book_id):
    book = Book(book_id)
    book.prime_card()


def ranked(book_ids):
    return Book.ranks(book_ids)


def prime_ranked(book_ids):
    Book.prime_ranks(book_ids)


def titled(book_ids):
    return Book.cards(book_ids)


def prime_titled(book_ids):
    Book.prime_cards(book_ids)


def main(xs):
    prime_featured(xs[0])
    prime_ranked(xs)
    prime_titled(xs)
    return featured(xs[0]), ranked(xs), titled(xs)
"""

SUBCLASS = """
from rtbase import Book


class SignedBook(Book):
    def prime(self):
        pass
"""

FEATURED_REFUSED = (
    "its twin prime_featured calls book.prime_card, but Book.prime_card primes through "
    "self.prime, which cannot be followed, so reading Book.card instead would lose that "
    "batching. Make the twin prime only what Book.card reads, or convert featured by hand, "
    "then rerun."
)


def _migrate(**extra: str):
    return migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": LOGIC.lstrip(), **extra})


def test_a_method_twin_that_primes_through_self_prime_lets_its_callers_convert():
    result = _migrate()
    assert not [r for r in result.refusals if r.function == "featured"]
    assert ("rt/rtlogic.py", "featured") in result.converted
    assert "    return (yield book.card.asynq())\n" in result.code["rt/rtlogic.py"]
    # main, unconverted, still primes: the twin and what it reaches through self stay.
    assert "        self.prime()\n" in result.code["rt/rtbase.py"]
    assert "    def prime(self):\n" in result.code["rt/rtbase.py"]


def test_twins_that_prime_through_cls_are_followed_to_the_method_they_prime():
    # Book.ranks reads rank_row itself, not Book.rank: the twin primes more than it reads.
    result = _migrate()
    reasons = {r.function: r.reason for r in result.refusals if r.path == "rt/rtlogic.py"}
    assert reasons == {
        "ranked": (
            "its twin prime_ranked calls Book.prime_ranks, but Book.prime_ranks primes "
            "Book.rank, which Book.ranks does not read, so reading Book.ranks instead would "
            "lose that batching. Make the twin prime only what Book.ranks reads, or convert "
            "ranked by hand, then rerun."
        ),
        "titled": (
            "its twin prime_titled calls Book.prime_cards, but Book.prime_cards primes "
            "Book.title, which Book.cards does not read, so reading Book.cards instead would "
            "lose that batching. Make the twin prime only what Book.cards reads, or convert "
            "titled by hand, then rerun."
        ),
    }


def test_priming_through_self_is_not_followed_when_a_class_in_the_program_subclasses_it():
    result = _migrate(**{"rt/rtsigned.py": SUBCLASS.lstrip()})
    assert ("rt/rtlogic.py", "featured") not in result.converted
    reasons = [r.reason for r in result.refusals if r.function == "featured"]
    assert reasons == [FEATURED_REFUSED]
    assert result.code["rt/rtlogic.py"].startswith("from rtbase import Book\n\n\ndef featured")


def test_a_twin_whose_self_prime_primes_what_the_method_does_not_read_is_refused():
    base = BASE.replace(
        "    def prime(self):\n        prime_title_row(self.id)\n",
        "    def prime(self):\n        prime_title_row(self.id)\n        prime_blurb_row(self.id)\n",
    )
    result = migrate_sources({"rt/rtbase.py": base.lstrip(), "rt/rtlogic.py": LOGIC.lstrip()})
    assert ("rt/rtlogic.py", "featured") not in result.converted
    reasons = [r.reason for r in result.refusals if r.function == "featured"]
    assert reasons == [
        "its twin prime_featured calls book.prime_card, but Book.prime_card calls self.prime, "
        "which primes blurb_row, which Book.card does not read, so reading Book.card instead "
        "would lose that batching. Make the twin prime only what Book.card reads, or convert "
        "featured by hand, then rerun."
    ]


def test_priming_through_self_migrated_gives_the_same_outputs_with_no_more_round_trips(server):
    result = _migrate()
    assert ("rt/rtlogic.py", "featured") in result.converted
    for xs in ([3], [1, 4, 2], [5, 9, 7, 8]):
        before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
            assert new_value == old_value
            assert new_trips <= old_trips, result.code["rt/rtlogic.py"]


SELF_READS = """
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

    def rank(self):
        return rank_row(self.id)

    def prime_rank(self):
        prime_rank_row(self.id)

    def card(self):
        return {"title": title_row(self.id), "rank": self.rank()}

    def prime_card(self):
        prime_title_row(self.id)
        self.prime_rank()
"""

SELF_READS_LOGIC = """
from rtbase import Book


def featured(book_id):
    return [Book(b).card() for b in range(book_id, book_id + 3)]


def prime_featured(book_id):
    for b in range(book_id, book_id + 3):
        Book(b).prime_card()


def main(xs):
    prime_featured(xs[0])
    return featured(xs[0])
"""


def test_a_converted_method_reads_a_converted_method_of_self_in_its_batch(assert_codemod):
    result = assert_codemod(
        SELF_READS,
        SELF_READS.replace(
            "from rtcache import mc\n", "from asynq import asynq\nfrom rtcache import mc\n"
        )
        .replace(
            "    def rank(self):\n        return rank_row(self.id)\n",
            "    @asynq()\n    def rank(self):\n        return (yield rank_row.asynq(self.id))\n",
        )
        .replace(
            '    def card(self):\n        return {"title": title_row(self.id), "rank": self.rank()}\n',
            "    @asynq()\n    def card(self):\n"
            '        return (yield {"title": title_row.asynq(self.id), "rank": self.rank.asynq()})\n',
        ),
        path="rt/rtbase.py",
        others={"rt/rtlogic.py": SELF_READS_LOGIC},
    )
    assert ("rt/rtlogic.py", "featured") in result.converted
    assert not [r for r in result.refusals if r.function == "featured"]


def test_a_method_of_a_subclassed_class_keeps_its_plain_self_call_and_the_caller_its_refusal():
    subclass = "from rtbase import Book\n\n\nclass Signed(Book):\n    def rank(self):\n        return 0\n"
    result = migrate_sources(
        {
            "rt/rtbase.py": SELF_READS.lstrip(),
            "rt/rtlogic.py": SELF_READS_LOGIC.lstrip(),
            "rt/rtsigned.py": subclass,
        }
    )
    assert '"rank": self.rank()}' in result.code["rt/rtbase.py"]
    assert ("rt/rtlogic.py", "featured") not in result.converted
    reasons = [r.reason for r in result.refusals if r.function == "featured"]
    assert reasons == [
        "its twin prime_featured calls Book(b).prime_card, but Book.prime_card primes through "
        "self.prime_rank, which cannot be followed, so reading Book.card instead would lose "
        "that batching. Make the twin prime only what Book.card reads, or convert featured by "
        "hand, then rerun."
    ]


def test_reads_through_self_migrated_give_the_same_outputs_with_no_more_round_trips(server):
    sources = {"rt/rtbase.py": SELF_READS.lstrip(), "rt/rtlogic.py": SELF_READS_LOGIC.lstrip()}
    result = migrate_sources(sources)
    assert "self.rank.asynq()" in result.code["rt/rtbase.py"]
    for xs in ([3], [1, 4, 2], [5, 9, 7, 8]):
        before = run(server.address, sources["rt/rtbase.py"], sources["rt/rtlogic.py"], xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
            assert new_value == old_value
            assert new_trips <= old_trips, result.code["rt/rtbase.py"]


SHELF = """
from rtcache import mc


@mc.cached("book")
def book_row(x):
    return {"id": x}


@mc.cached("ids")
def book_ids_of_author(x):
    return [x, x + 1]


prime_book_row = book_row.prime
prime_book_ids_of_author = book_ids_of_author.prime


class Book:
    def __init__(self, book_id):
        self.id = book_id

    def prime(self):
        prime_book_row(self.id)


class Author:
    def __init__(self, author_id):
        self.id = author_id

    def books(self):
        return [Book(b) for b in book_ids_of_author(self.id)]

    def prime_books(self):
        for b in book_ids_of_author(self.id):
            Book(b).prime()
"""

SHELF_LOGIC = """
from rtbase import Author


def page(author_id):
    author = Author(author_id)
    return [b.id for b in author.books()]


def prime_page(author_id):
    author = Author(author_id)
    author.prime_books()
"""


def test_a_twin_that_primes_the_rows_of_the_objects_its_method_returns_is_refused_by_name():
    result = migrate_sources({"rt/rtbase.py": SHELF.lstrip(), "rt/rtlogic.py": SHELF_LOGIC.lstrip()})
    assert ("rt/rtlogic.py", "page") not in result.converted
    reasons = [r.reason for r in result.refusals if r.function == "page"]
    assert reasons == [
        "its twin prime_page calls author.prime_books, but Author.prime_books calls "
        "Book(b).prime, which primes book_row, which Author.books does not read, so reading "
        "Author.books instead would lose that batching. Make the twin prime only what "
        "Author.books reads, or convert page by hand, then rerun."
    ]


ROWS_LOGIC = """
from rtbase import Book, book_row


def prime_rows(ids):
    for b in ids:
        Book(b).prime()


def page(ids):
    return [book_row(b) for b in ids]


def prime_page(ids):
    prime_rows(ids)


def main(xs):
    prime_page(xs)
    return page(xs)
"""


def test_a_priming_function_that_calls_a_plain_prime_method_is_followed(assert_codemod):
    result = assert_codemod(
        ROWS_LOGIC,
        ROWS_LOGIC.replace("from rtbase", "from asynq import asynq\n\nfrom rtbase")
        .replace(
            "def page(ids):\n    return [book_row(b) for b in ids]\n",
            "@asynq()\ndef page(ids):\n    return (yield [book_row.asynq(b) for b in ids])\n",
        ),
        path="rt/rtlogic.py",
        others={"rt/rtbase.py": SHELF},
    )
    assert ("rt/rtlogic.py", "page") in result.converted


def test_a_followed_plain_prime_method_migrated_gives_the_same_outputs_with_no_more_round_trips(
    server,
):
    sources = {"rt/rtbase.py": SHELF.lstrip(), "rt/rtlogic.py": ROWS_LOGIC.lstrip()}
    result = migrate_sources(sources)
    assert ("rt/rtlogic.py", "page") in result.converted
    for xs in ([3], [1, 4, 2], [5, 9, 7, 8]):
        before = run(server.address, sources["rt/rtbase.py"], sources["rt/rtlogic.py"], xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
            assert new_value == old_value
            assert new_trips <= old_trips, result.code["rt/rtlogic.py"]

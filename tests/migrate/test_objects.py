"""Priming through classes and objects: twins reached as ``Class.prime_m`` or
``module.Class.prime_m``, and the reads of the methods they prime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import run
from tests.migrate.test_rewrite_rules import OTHERS


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


EDITIONS = """
from app.models import f, g, prime_f, prime_g


class Edition:
    def __init__(self, edition_id):
        self.id = edition_id

    @classmethod
    def cheapest(cls, book_id):
        return cls(min([f(book_id), g(book_id)]))

    @classmethod
    def prime_cheapest(cls, book_id):
        prime_f(book_id)
        prime_g(book_id)

    @staticmethod
    def label(x):
        return f(x)

    @staticmethod
    def prime_label(x):
        prime_f(x)

    @classmethod
    def prime_many(cls, xs):
        for x in xs:
            prime_f(x)
"""


def test_a_twin_that_primes_a_classmethod_through_its_class_is_followed(assert_codemod):
    result = assert_codemod(
        """
        from app.editions import Edition
        from app.models import g, prime_g


        def page(book_id):
            cheapest = Edition.cheapest(book_id)
            return {"cheapest": cheapest.id, "g": g(book_id + 1)}


        def prime_page(book_id):
            Edition.prime_cheapest(book_id)
            prime_g(book_id + 1)
        """,
        """
        from asynq import asynq

        from app.editions import Edition
        from app.models import g


        @asynq()
        def page(book_id):
            cheapest, g_value = yield Edition.cheapest.asynq(book_id), g.asynq(book_id + 1)
            return {"cheapest": cheapest.id, "g": g_value}
        """,
        path="app/views.py",
        others={**OTHERS, "app/editions.py": EDITIONS},
    )
    assert result.refusals == []
    assert ("app/views.py", "page") in result.converted
    assert ("app/editions.py", "Edition.cheapest") in result.converted
    # prime_g stays: the method twin Edition.prime_cheapest, kept for objects, still calls it.
    assert "prime_g = g.prime" in result.code["app/models.py"]


def test_a_staticmethod_twin_reached_through_a_module_attribute_is_followed(assert_codemod):
    result = assert_codemod(
        """
        from app import editions


        def label(x):
            return editions.Edition.label(x)


        def prime_label(x):
            editions.Edition.prime_label(x)
        """,
        """
        from asynq import asynq

        from app import editions


        @asynq()
        def label(x):
            return (yield editions.Edition.label.asynq(x))
        """,
        path="app/views.py",
        others={**OTHERS, "app/editions.py": EDITIONS},
    )
    assert result.refusals == []
    assert ("app/views.py", "label") in result.converted


def test_a_caller_of_a_method_that_stays_legacy_is_refused_with_the_method_named(dedent):
    editions = EDITIONS.replace(
        "    @staticmethod\n    def label(x):\n        return f(x)",
        "    @staticmethod\n    def label(x):\n        with lock:\n            return f(x)",
    )
    views = dedent(
        """
        from app.editions import Edition


        def label(x):
            return Edition.label(x)


        def prime_label(x):
            Edition.prime_label(x)
        """
    )
    result = migrate_sources(
        {
            **{p: dedent(s) for p, s in OTHERS.items()},
            "app/editions.py": dedent(editions),
            "app/views.py": views,
        }
    )
    assert result.code["app/views.py"] == views
    reasons = [r.reason for r in result.refusals if r.path == "app/views.py"]
    assert reasons == [
        "label reads Edition.label (in app/editions.py), which is not converted (see its own "
        "entry); converting only the caller would fetch Edition.label's keys one call at a "
        "time. Convert Edition.label first, then rerun."
    ]
    assert any(r.function == "Edition.label" for r in result.refusals)


def test_a_priming_method_with_no_method_beside_it_is_refused_with_the_reason(dedent):
    views = dedent(
        """
        from app.editions import Edition
        from app.models import f


        def total(xs):
            return sum([f(x) for x in xs])


        def prime_total(xs):
            Edition.prime_many(xs)
        """
    )
    result = migrate_sources(
        {
            **{p: dedent(s) for p, s in OTHERS.items()},
            "app/editions.py": dedent(EDITIONS),
            "app/views.py": views,
        }
    )
    assert result.code["app/views.py"] == views
    assert [(r.line, r.reason) for r in result.refusals if r.path == "app/views.py"] == [
        (
            10,
            "its twin prime_total calls Edition.prime_many, a priming method of Edition (in "
            "app/editions.py) with no method many beside it, so what it primes is not "
            "followed; converting total would lose that batching. Convert it by hand, or "
            "prime through twins that name what they prime, then rerun.",
        )
    ]


def test_a_priming_function_that_dispatches_through_a_table_is_refused_with_the_reason(
    dedent,
):
    views = dedent(
        """
        from app import registry
        from app.models import f


        def render(refs):
            return [f(ident) for kind, ident in refs]


        def prime_render(refs):
            registry.prime_refs(refs)
        """
    )
    result = migrate_sources(
        {
            **{p: dedent(s) for p, s in OTHERS.items()},
            "app/registry.py": dedent(
                """
                from app.models import prime_f, prime_g

                PRIMERS = {"f": prime_f, "g": prime_g}


                def prime_refs(refs):
                    for kind, ident in refs:
                        PRIMERS[kind](ident)
                """
            ),
            "app/views.py": views,
        }
    )
    assert result.code["app/views.py"] == views
    assert [(r.line, r.reason) for r in result.refusals if r.path == "app/views.py"] == [
        (
            10,
            "its twin prime_render calls registry.prime_refs, a priming function (in "
            "app/registry.py) that primes through an object or a dynamic call (such as a "
            "table of priming functions), so what it primes cannot be followed; converting "
            "render would lose that batching. Convert it by hand, or prime through twins "
            "that name what they prime, then rerun.",
        )
    ]


BOOKS = """
from app.models import f, g, prime_f, prime_g


class Book:
    def __init__(self, book_id):
        self.id = book_id

    def card(self):
        return {"title": f(self.id), "rank": g(self.id)}

    def prime_card(self):
        prime_f(self.id)
        prime_g(self.id)

    def title(self):
        return f(self.id)

    def prime_title(self):
        prime_f(self.id)
        prime_g(self.id)

    def prime(self):
        prime_g(self.id)
"""


def _views(dedent, views):
    return migrate_sources(
        {
            **{p: dedent(s) for p, s in OTHERS.items()},
            "app/books.py": dedent(BOOKS),
            "app/views.py": dedent(views),
        }
    )


def test_priming_through_an_object_built_in_the_function_is_followed(assert_codemod):
    result = assert_codemod(
        """
        from app import books
        from app.books import Book


        def page(book_id):
            book = Book(book_id)
            card = book.card()
            return {"card": card, "next": books.Book(book_id + 1).card()}


        def prime_page(book_id):
            book = Book(book_id)
            book.prime_card()
            books.Book(book_id + 1).prime_card()
        """,
        """
        from asynq import asynq

        from app import books
        from app.books import Book


        @asynq()
        def page(book_id):
            book = Book(book_id)
            card = yield book.card.asynq()
            return {"card": card, "next": (yield books.Book(book_id + 1).card.asynq())}
        """,
        path="app/views.py",
        others={**OTHERS, "app/books.py": BOOKS},
    )
    assert [r for r in result.refusals if r.path == "app/views.py"] == []
    assert ("app/views.py", "page") in result.converted
    assert ("app/books.py", "Book.card") in result.converted


OBJECT_CASES = {
    "an object assigned twice": """
        from app.books import Book


        def page(book_id):
            book = Book(book_id)
            book = Book(book_id + 1)
            return book.card()


        def prime_page(book_id):
            book = Book(book_id)
            book = Book(book_id + 1)
            book.prime_card()
        """,
    "an object passed in": """
        from app.books import Book


        def page(book):
            return book.card()


        def prime_page(book):
            book.prime_card()
        """,
    "an object built in a loop": """
        from app.books import Book


        def page(book_ids):
            return [Book(book_id).card() for book_id in book_ids]


        def prime_page(book_ids):
            for book_id in book_ids:
                book = Book(book_id)
                book.prime_card()
        """,
    "an object of a class the run does not define": """
        from elsewhere import Book


        def page(book_id):
            book = Book(book_id)
            return book.card()


        def prime_page(book_id):
            book = Book(book_id)
            book.prime_card()
        """,
}


def test_priming_through_an_object_whose_class_is_not_certain_is_still_refused(dedent):
    for case, views in sorted(OBJECT_CASES.items()):
        result = _views(dedent, views)
        assert result.code["app/views.py"] == dedent(views), case
        reasons = [r.reason for r in result.refusals if r.path == "app/views.py"]
        assert reasons, case
        assert reasons[0].startswith("its twin prime_page calls book.prime_card, a priming ")
        assert "method of an object, which the codemod does not follow" in reasons[0], case


def test_an_object_method_whose_twin_primes_more_than_it_reads_is_refused(dedent):
    views = """
        from app.books import Book


        def title(book_id):
            book = Book(book_id)
            return book.title()


        def prime_title(book_id):
            book = Book(book_id)
            book.prime_title()
        """
    result = _views(dedent, views)
    assert result.code["app/views.py"] == dedent(views)
    assert [(r.line, r.reason) for r in result.refusals if r.path == "app/views.py"] == [
        (
            11,
            "its twin prime_title calls book.prime_title, but Book.prime_title primes g, "
            "which Book.title does not read, so reading Book.title instead would lose that "
            "batching. Make the twin prime only what Book.title reads, or convert title by "
            "hand, then rerun.",
        )
    ]


def test_objects_built_for_every_item_are_read_in_one_batch(assert_codemod):
    assert_codemod(
        """
        from app.books import Book


        def cards(book_ids):
            return [Book(book_id).card() for book_id in book_ids]


        def prime_cards(book_ids):
            for book_id in book_ids:
                Book(book_id).prime_card()
        """,
        """
        from asynq import asynq

        from app.books import Book


        @asynq()
        def cards(book_ids):
            return (yield [Book(book_id).card.asynq() for book_id in book_ids])
        """,
        path="app/views.py",
        others={**OTHERS, "app/books.py": BOOKS},
    )


def test_a_plain_prime_method_on_an_object_is_not_taken_for_a_read(dedent):
    for call in ("book.prime()", "Book(book_id).prime()"):
        views = f"""
            from app.books import Book


            def page(book_id):
                book = Book(book_id)
                return book.card()


            def prime_page(book_id):
                book = Book(book_id)
                book.prime_card()
                {call}
            """
        result = _views(dedent, views)
        assert result.code["app/views.py"] == dedent(views), call
        reasons = [r.reason for r in result.refusals if r.path == "app/views.py"]
        assert reasons == [EXPECTED_PRIME_REASONS[call]]


EXPECTED_PRIME_REASONS = {
    "book.prime()": (
        "its twin prime_page calls book.prime, a priming method of an object, which the "
        "codemod does not follow; converting page would lose that batching. Convert it by "
        "hand, or prime through module-level twins, then rerun."
    ),
    "Book(book_id).prime()": (
        "its twin prime_page calls Book(book_id).prime, a priming method of Book (in "
        "app/books.py) that is no method's twin, so what it primes is not followed; "
        "converting page would lose that batching. Convert it by hand, or prime through "
        "twins that name what they prime, then rerun."
    ),
}


RT_BASE = """
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

    @classmethod
    def best(cls, book_ids):
        return cls(max(book_ids, key=lambda b: (rank_row(b), b)))

    @classmethod
    def prime_best(cls, book_ids):
        for book_id in book_ids:
            prime_rank_row(book_id)
"""

RT_LOGIC = """
from rtbase import Book


def shelf(book_ids):
    best = Book.best(book_ids)
    return {"best": best.id, "cards": [Book(b).card() for b in book_ids]}


def prime_shelf(book_ids):
    Book.prime_best(book_ids)
    for b in book_ids:
        Book(b).prime_card()


def featured(book_id):
    book = Book(book_id)
    return book.card()


def prime_featured(book_id):
    book = Book(book_id)
    book.prime_card()


def main(xs):
    prime_shelf(xs)
    prime_featured(xs[0] + 100)
    return shelf(xs), featured(xs[0] + 100)
"""


def test_priming_through_objects_migrated_gives_the_same_outputs_with_no_more_round_trips(
    server,
):
    sources = {"rt/rtbase.py": RT_BASE.lstrip(), "rt/rtlogic.py": RT_LOGIC.lstrip()}
    result = migrate_sources(sources)
    assert ("rt/rtlogic.py", "shelf") in result.converted
    assert ("rt/rtlogic.py", "featured") in result.converted
    assert "yield Book.best.asynq(book_ids)" in result.code["rt/rtlogic.py"]
    assert "yield book.card.asynq()" in result.code["rt/rtlogic.py"]
    for xs in ([3], [1, 4, 2], [5, 9, 7, 8]):
        before = run(server.address, sources["rt/rtbase.py"], sources["rt/rtlogic.py"], xs)
        after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
        for (old_value, old_trips), (new_value, new_trips) in zip(before, after, strict=True):
            assert new_value == old_value
            assert new_trips <= old_trips, result.code["rt/rtlogic.py"]

"""Editions: the things we actually sell (a format, an ISBN, a price, a stock level)."""

from asynq import priming

from .. import db, settings
from ..cache import mc
from . import books


@mc.cached("edition.row")
def edition_row(edition_id):
    return db.DB.get("editions", edition_id)


@mc.cached("edition.stock", ttl=settings.STOCK_TTL)
def stock_level(edition_id):
    # The warehouse feed updates this column; it is cached for a minute only.
    return db.DB.get("editions", edition_id)["stock"]


prime_edition_row = edition_row.prime
prime_stock_level = stock_level.prime


class Edition:
    def __init__(self, edition_id):
        self.id = edition_id

    def __repr__(self):
        return f"<Edition {self.id}>"

    def prime(self):
        prime_edition_row(self.id)

    def prime_with_stock(self):
        prime_edition_row(self.id)
        prime_stock_level(self.id)

    @property
    def format(self):
        return edition_row(self.id)["format"]

    @property
    def price_cents(self):
        return edition_row(self.id)["price_cents"]

    @property
    def in_stock(self):
        return stock_level(self.id) > 0

    @property
    def book(self):
        return books.Book(edition_row(self.id)["book_id"])

    @priming.generator
    def prime_book(self):
        self.prime()
        yield
        self.book.prime_card()

    def to_dict(self):
        row = edition_row(self.id)
        return {
            "id": self.id,
            "format": row["format"],
            "isbn": row["isbn"],
            "price": Edition.format_price(row["price_cents"]),
            "in_stock": self.in_stock,
        }

    prime_to_dict = prime_with_stock

    @staticmethod
    def format_price(cents):
        return f"£{cents // 100}.{cents % 100:02d}"

    @staticmethod
    def price_label(edition_id):
        row = edition_row(edition_id)
        return "{}, {}".format(row["format"], Edition.format_price(row["price_cents"]))

    @staticmethod
    def prime_price_label(edition_id):
        prime_edition_row(edition_id)

    @classmethod
    def cheapest_for_book(cls, book_id):
        edition_ids = books.edition_ids_of_book(book_id)
        if not edition_ids:
            return None
        return cls(min(edition_ids, key=lambda eid: (edition_row(eid)["price_cents"], eid)))

    @classmethod
    @priming.generator
    def prime_cheapest_for_book(cls, book_id):
        books.prime_edition_ids_of_book(book_id)
        yield
        for edition_id in books.edition_ids_of_book(book_id):
            prime_edition_row(edition_id)

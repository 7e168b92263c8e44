"""Authors: a row each, and the list of their books."""

from asynq import priming

from .. import db
from ..cache import mc
from . import books


@mc.cached("author.row")
def author_row(author_id):
    return db.DB.get("authors", author_id)


@mc.cached("author.book_ids")
def book_ids_of_author(author_id):
    return [row["id"] for row in db.DB.query("books", author_id=author_id)]


prime_author_row = author_row.prime
prime_book_ids_of_author = book_ids_of_author.prime


class Author:
    def __init__(self, author_id):
        self.id = author_id

    def __repr__(self):
        return f"<Author {self.id}>"

    def prime(self):
        prime_author_row(self.id)

    @property
    def name(self):
        return author_row(self.id)["name"]

    @property
    def country(self):
        return author_row(self.id)["country"]

    @property
    def born(self):
        return author_row(self.id)["born"]

    def books(self):
        return [books.Book(book_id) for book_id in book_ids_of_author(self.id)]

    @priming.generator
    def prime_books(self):
        prime_book_ids_of_author(self.id)
        yield
        for book_id in book_ids_of_author(self.id):
            books.Book(book_id).prime()

    def summary(self):
        row = author_row(self.id)
        return {
            "id": self.id,
            "name": row["name"],
            "country": row["country"],
            "born": row["born"],
            "books": len(book_ids_of_author(self.id)),
        }

    def prime_summary(self):
        self.prime()
        prime_book_ids_of_author(self.id)

    @staticmethod
    def byline(author_id):
        row = author_row(author_id)
        return "{} ({})".format(row["name"], row["country"])

    @staticmethod
    def prime_byline(author_id):
        prime_author_row(author_id)

    @classmethod
    def get_many(cls, author_ids):
        return [cls(author_id) for author_id in author_ids]

    @classmethod
    def prime_many(cls, author_ids):
        for author_id in author_ids:
            prime_author_row(author_id)

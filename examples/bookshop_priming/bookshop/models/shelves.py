"""Shelves: named lists of books a reader keeps ("read", "to-read", ...)."""

from asynq import priming

from .. import db
from ..cache import mc
from . import books, users


@mc.cached("shelf.ids_of_user")
def shelf_ids_of_user(user_id):
    return [row["id"] for row in db.DB.query("shelves", owner_id=user_id)]


@mc.cached("shelf.row")
def shelf_row(shelf_id):
    return db.DB.get("shelves", shelf_id)


prime_shelf_ids_of_user = shelf_ids_of_user.prime
prime_shelf_row = shelf_row.prime


class Shelf:
    def __init__(self, shelf_id):
        self.id = shelf_id

    def prime(self):
        prime_shelf_row(self.id)

    @property
    def name(self):
        return shelf_row(self.id)["name"]

    @property
    def owner(self):
        return users.User(shelf_row(self.id)["owner_id"])

    @property
    def book_ids(self):
        return shelf_row(self.id)["book_ids"]

    def books(self):
        return [books.Book(book_id) for book_id in self.book_ids]

    @priming.generator
    def prime_books(self):
        self.prime()
        yield
        for book_id in shelf_row(self.id)["book_ids"]:
            books.Book(book_id).prime_card()

    @classmethod
    def of_user(cls, user_id):
        return [cls(shelf_id) for shelf_id in shelf_ids_of_user(user_id)]

    @classmethod
    @priming.generator
    def prime_of_user(cls, user_id):
        prime_shelf_ids_of_user(user_id)
        yield
        for shelf_id in shelf_ids_of_user(user_id):
            cls(shelf_id).prime_books()


def books_on_shelves(user_id):
    """Every book id the user has on any shelf, in shelf order, without repeats."""
    seen = []
    for shelf_id in shelf_ids_of_user(user_id):
        for book_id in shelf_row(shelf_id)["book_ids"]:
            if book_id not in seen:
                seen.append(book_id)
    return seen


@priming.generator
def prime_books_on_shelves(user_id):
    prime_shelf_ids_of_user(user_id)
    yield
    for shelf_id in shelf_ids_of_user(user_id):
        prime_shelf_row(shelf_id)

"""Books, their genres and series."""

from asynq import priming

from .. import db
from ..cache import mc
from . import authors, reviews


@mc.cached("book.row")
def book_row(book_id):
    return db.DB.get("books", book_id)


@mc.cached("book.edition_ids")
def edition_ids_of_book(book_id):
    return [row["id"] for row in db.DB.query("editions", book_id=book_id)]


@mc.cached("book.review_ids")
def review_ids_of_book(book_id):
    return [row["id"] for row in db.DB.query("reviews", book_id=book_id)]


@mc.cached("book.rating_summary")
def rating_summary(book_id):
    """Count, average and histogram of the ratings. Computed from the cached reviews, so
    the first computation primes them all before it reads them."""
    review_ids = review_ids_of_book(book_id)
    for review_id in review_ids:
        reviews.prime_review_row(review_id)
    ratings = [reviews.review_row(review_id)["rating"] for review_id in review_ids]
    histogram = {str(stars): 0 for stars in range(1, 6)}
    for rating in ratings:
        histogram[str(rating)] += 1
    return {
        "count": len(ratings),
        "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "histogram": histogram,
    }


@mc.cached("genre.row")
def genre_row(slug):
    return db.DB.get("genres", slug)


@mc.cached("genre.children")
def child_genres(slug):
    return [row["slug"] for row in db.DB.query("genres", parent=slug)]


@mc.cached("genre.book_ids")
def book_ids_in_genre(slug):
    return [row["id"] for row in db.DB.query("books", genre=slug)]


prime_book_row = book_row.prime
prime_edition_ids_of_book = edition_ids_of_book.prime
prime_review_ids_of_book = review_ids_of_book.prime
prime_genre_row = genre_row.prime
prime_child_genres = child_genres.prime
prime_book_ids_in_genre = book_ids_in_genre.prime


@priming.generator
def prime_rating_summary(book_id):
    # The summary is computed from the reviews. Prime them too: after a flush or a deploy,
    # a page of books would otherwise compute its summaries one book at a time, with two
    # round trips each. When the summary is cached this costs a few keys more.
    rating_summary.prime(book_id)
    prime_review_ids_of_book(book_id)
    yield
    for review_id in review_ids_of_book(book_id):
        reviews.prime_review_row(review_id)


@priming.generator
def prime_genre_path(slug):
    """Prime a genre and all its ancestors (one round per level)."""
    prime_genre_row(slug)
    yield
    parent = genre_row(slug)["parent"]
    while parent is not None:
        prime_genre_row(parent)
        yield
        parent = genre_row(parent)["parent"]


@priming.generator
def prime_series(book_id):
    """Prime the books before this one in its series, walking back one book per round."""
    prime_book_row(book_id)
    yield
    previous = book_row(book_id)["previous_in_series"]
    while previous is not None:
        prime_book_row(previous)
        yield
        previous = book_row(previous)["previous_in_series"]


class Book:
    def __init__(self, book_id):
        self.id = book_id

    def __repr__(self):
        return f"<Book {self.id}>"

    def prime(self):
        prime_book_row(self.id)

    @property
    def row(self):
        return book_row(self.id)

    @property
    def title(self):
        return self.row["title"]

    @property
    def year(self):
        return self.row["year"]

    @property
    def genre(self):
        return self.row["genre"]

    @property
    def author(self):
        return authors.Author(self.row["author_id"])

    @priming.generator
    def prime_author(self):
        self.prime()
        yield
        self.author.prime()

    def card(self):
        """What a list of books shows for each: title, author, year."""
        row = self.row
        return {
            "id": self.id,
            "title": row["title"],
            "author": authors.author_row(row["author_id"])["name"],
            "year": row["year"],
        }

    prime_card = prime_author

    def series(self):
        """The books before this one in its series, oldest first."""
        chain = []
        previous = self.row["previous_in_series"]
        while previous is not None:
            chain.append(Book(previous))
            previous = book_row(previous)["previous_in_series"]
        chain.reverse()
        return chain

    def prime_series(self):
        prime_series(self.id)

    def editions(self):
        from .editions import Edition

        return [Edition(edition_id) for edition_id in edition_ids_of_book(self.id)]

    @priming.generator
    def prime_editions(self):
        from .editions import Edition

        prime_edition_ids_of_book(self.id)
        yield
        for edition_id in edition_ids_of_book(self.id):
            Edition(edition_id).prime()

    def reviews(self):
        return [reviews.Review(review_id) for review_id in review_ids_of_book(self.id)]

    @priming.generator
    def prime_reviews(self):
        prime_review_ids_of_book(self.id)
        yield
        for review_id in review_ids_of_book(self.id):
            reviews.Review(review_id).prime_for_display()

    @property
    def average_rating(self):
        return rating_summary(self.id)["average"]

    def prime_average_rating(self):
        prime_rating_summary(self.id)

    @classmethod
    def in_genre(cls, slug):
        return [cls(book_id) for book_id in book_ids_in_genre(slug)]

    @classmethod
    @priming.generator
    def prime_in_genre(cls, slug):
        prime_book_ids_in_genre(slug)
        yield
        for book_id in book_ids_in_genre(slug):
            cls(book_id).prime_card()
            prime_rating_summary(book_id)

    @staticmethod
    def title_of(book_id):
        return book_row(book_id)["title"]

    @staticmethod
    def prime_title_of(book_id):
        prime_book_row(book_id)

"""Reviews and the threaded comments under them."""

from asynq import priming

from .. import db
from ..cache import mc
from . import books, users


@mc.cached("review.row")
def review_row(review_id):
    return db.DB.get("reviews", review_id)


@mc.cached("review.top_comment_ids")
def top_comment_ids(review_id):
    return [row["id"] for row in db.DB.query("comments", review_id=review_id, parent_id=None)]


@mc.cached("comment.row")
def comment_row(comment_id):
    return db.DB.get("comments", comment_id)


@mc.cached("comment.reply_ids")
def reply_ids(comment_id):
    return [row["id"] for row in db.DB.query("comments", parent_id=comment_id)]


@mc.cached("review.comment_count")
def comment_count(review_id):
    return len(db.DB.query("comments", review_id=review_id))


prime_review_row = review_row.prime
prime_top_comment_ids = top_comment_ids.prime
prime_comment_row = comment_row.prime
prime_reply_ids = reply_ids.prime
prime_comment_count = comment_count.prime


def comment_tree(comment_id):
    """A comment and, recursively, its replies."""
    row = comment_row(comment_id)
    return {
        "id": comment_id,
        "by": users.User.handle_of(row["user_id"]),
        "text": row["text"],
        "replies": [comment_tree(child_id) for child_id in reply_ids(comment_id)],
    }


@priming.generator
def prime_comment_tree(comment_id):
    prime_comment_row(comment_id)
    prime_reply_ids(comment_id)
    yield
    users.User.prime_handle_of(comment_row(comment_id)["user_id"])
    for child_id in reply_ids(comment_id):
        prime_comment_tree(child_id)


def thread_depth(comment_id):
    """How deep the replies under a comment go (1 for a comment without replies)."""
    children = reply_ids(comment_id)
    if not children:
        return 1
    return 1 + max(thread_depth(child_id) for child_id in children)


prime_thread_depth = prime_comment_tree


class Review:
    def __init__(self, review_id):
        self.id = review_id

    def __repr__(self):
        return f"<Review {self.id}>"

    def prime(self):
        prime_review_row(self.id)

    @property
    def rating(self):
        return review_row(self.id)["rating"]

    @property
    def text(self):
        return review_row(self.id)["text"]

    @property
    def author(self):
        return users.User(review_row(self.id)["user_id"])

    @property
    def book(self):
        return books.Book(review_row(self.id)["book_id"])

    @priming.generator
    def prime_for_display(self):
        self.prime()
        prime_comment_count(self.id)
        yield
        self.author.prime()
        self.book.prime_card()

    def for_display(self):
        return {
            "id": self.id,
            "rating": self.rating,
            "text": self.text,
            "by": self.author.link(),
            "book": self.book.card(),
            "comments": comment_count(self.id),
        }

    def thread(self):
        return [comment_tree(comment_id) for comment_id in top_comment_ids(self.id)]

    @priming.generator
    def prime_thread(self):
        prime_top_comment_ids(self.id)
        yield
        for comment_id in top_comment_ids(self.id):
            prime_comment_tree(comment_id)

"""Readers (and staff, who are readers with a flag)."""

from asynq import priming

from .. import db
from ..cache import mc


@mc.cached("user.row")
def user_row(user_id):
    return db.DB.get("users", user_id)


@mc.cached("user.followee_ids")
def followee_ids(user_id):
    return db.DB.followees(user_id)


@mc.cached("user.follower_ids")
def follower_ids(user_id):
    return db.DB.followers(user_id)


@mc.cached("user.review_ids")
def review_ids_of_user(user_id):
    return [row["id"] for row in db.DB.query("reviews", user_id=user_id)]


prime_user_row = user_row.prime
prime_followee_ids = followee_ids.prime
prime_follower_ids = follower_ids.prime
prime_review_ids_of_user = review_ids_of_user.prime


class User:
    def __init__(self, user_id):
        self.id = user_id

    def __repr__(self):
        return f"<User {self.id}>"

    def prime(self):
        prime_user_row(self.id)

    @property
    def name(self):
        return user_row(self.id)["name"]

    @property
    def handle(self):
        return user_row(self.id)["handle"]

    @property
    def is_staff(self):
        return user_row(self.id)["is_staff"]

    def link(self):
        row = user_row(self.id)
        return {"id": self.id, "handle": row["handle"], "name": row["name"]}

    prime_link = prime

    def following(self):
        return [User(user_id) for user_id in followee_ids(self.id)]

    @priming.generator
    def prime_following(self):
        prime_followee_ids(self.id)
        yield
        for user_id in followee_ids(self.id):
            prime_user_row(user_id)

    def followers(self):
        return [User(user_id) for user_id in follower_ids(self.id)]

    @priming.generator
    def prime_followers(self):
        prime_follower_ids(self.id)
        yield
        for user_id in follower_ids(self.id):
            prime_user_row(user_id)

    def review_ids(self):
        return review_ids_of_user(self.id)

    def prime_review_ids(self):
        prime_review_ids_of_user(self.id)

    @classmethod
    def prime_many(cls, user_ids):
        for user_id in user_ids:
            prime_user_row(user_id)

    @staticmethod
    def handle_of(user_id):
        return "@" + user_row(user_id)["handle"]

    @staticmethod
    def prime_handle_of(user_id):
        prime_user_row(user_id)

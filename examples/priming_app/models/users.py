"""Users: cached facts and a composite with its hand-written priming twin."""

import db
from cache import mc


@mc.cached("name_of_user")
def name_of_user(uid):
    return db.query("user", uid)["name"]


prime_name_of_user = name_of_user.prime


@mc.cached("followers_of_user")
def followers_of_user(uid):
    return db.query("user", uid)["followers"]


prime_followers_of_user = followers_of_user.prime


def display_name(uid):
    """The name shown next to an answer."""
    name = name_of_user(uid)
    followers = followers_of_user(uid)
    return f"{name} ({len(followers)} followers)"


def prime_display_name(uid):
    prime_name_of_user(uid)
    prime_followers_of_user(uid)

"""Buyers and sellers (one account table; sellers have is_seller set)."""

from tickets import db
from tickets.cache import mc


@mc.cached("users.user")
def user(user_id):
    return db.fetch_user(user_id)


@mc.cached("users.order_count")
def order_count(user_id):
    return db.fetch_orders_by_buyer_count(user_id)


@mc.cached("users.follows")
def followed_performer_ids(user_id):
    return db.fetch_followed_performer_ids(user_id)


prime_user = user.prime
prime_order_count = order_count.prime
prime_followed_performer_ids = followed_performer_ids.prime


def username(user_id):
    return user(user_id)["username"]


def prime_username(user_id):
    prime_user(user_id)


def display_name(user_id):
    u = user(user_id)
    if u["is_seller"]:
        return "%s (seller, %.1f)" % (u["username"], u["rating"])
    return u["username"]


prime_display_name = prime_username


def is_new_account(user_id):
    return user(user_id)["account_age_days"] < 90

"""Follows, the activity feed and recommendations."""

from asynq import priming

from ..cache import mc
from . import shelves, users


@mc.cached("reco.book_ids")
def recommended_book_ids(user_id):
    """Books on the shelves of the people the user follows that are on none of the user's own
    shelves, most shelved first. Expensive, so cached for the day like everything else."""
    followees = users.followee_ids(user_id)
    shelves.prime_shelf_ids_of_user(user_id)
    for followee_id in followees:
        shelves.prime_shelf_ids_of_user(followee_id)
    their_shelf_ids = [shelf_id for followee_id in followees
                       for shelf_id in shelves.shelf_ids_of_user(followee_id)]
    my_shelf_ids = shelves.shelf_ids_of_user(user_id)
    for shelf_id in their_shelf_ids + my_shelf_ids:
        shelves.prime_shelf_row(shelf_id)
    mine = set()
    for shelf_id in my_shelf_ids:
        mine.update(shelves.shelf_row(shelf_id)["book_ids"])
    counts = {}
    for shelf_id in their_shelf_ids:
        for book_id in shelves.shelf_row(shelf_id)["book_ids"]:
            if book_id not in mine:
                counts[book_id] = counts.get(book_id, 0) + 1
    return sorted(counts, key=lambda book_id: (-counts[book_id], book_id))[:8]


prime_recommended_book_ids = recommended_book_ids.prime


def feed_refs(user_id, limit=12):
    """The latest activity of the people the user follows, as (kind, id) references."""
    refs = []
    for followee_id in users.followee_ids(user_id):
        for review_id in users.review_ids_of_user(followee_id)[-2:]:
            refs.append(("review", review_id))
        shelf_ids = shelves.shelf_ids_of_user(followee_id)
        if shelf_ids:
            refs.append(("shelf", shelf_ids[0]))
        refs.append(("user", followee_id))
    refs.sort(key=lambda ref: (-ref[1], ref[0]))
    return refs[:limit]


@priming.generator
def prime_feed_refs(user_id, limit=12):
    users.prime_followee_ids(user_id)
    yield
    for followee_id in users.followee_ids(user_id):
        users.prime_review_ids_of_user(followee_id)
        shelves.prime_shelf_ids_of_user(followee_id)


def mutual_followers(user_id, other_id):
    mine = users.follower_ids(user_id)
    return [uid for uid in users.follower_ids(other_id) if uid in mine]


def prime_mutual_followers(user_id, other_id):
    users.prime_follower_ids(user_id)
    users.prime_follower_ids(other_id)

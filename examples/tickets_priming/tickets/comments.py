"""Event discussion threads: comments with replies, any depth."""

from asynq import priming

from tickets import db, users
from tickets.cache import mc

COLLAPSE_BELOW_VOTES = -2


@mc.cached("comments.comment")
def comment(comment_id):
    return db.fetch_comment(comment_id)


@mc.cached("comments.replies")
def reply_ids(comment_id):
    return db.fetch_reply_ids(comment_id)


@mc.cached("comments.top")
def top_comment_ids(event_id, limit=None):
    ids = db.fetch_top_comment_ids(event_id)
    return ids[:limit] if limit else ids


prime_comment = comment.prime
prime_reply_ids = reply_ids.prime
prime_top_comment_ids = top_comment_ids.prime


def thread(comment_id, depth=0):
    c = comment(comment_id)
    node = {
        "id": comment_id,
        "author": users.username(c["author_id"]),
        "votes": c["votes"],
        "depth": depth,
    }
    if c["votes"] <= COLLAPSE_BELOW_VOTES:
        node["collapsed"] = True
        return node
    node["body"] = c["body"]
    node["replies"] = [thread(reply_id, depth + 1) for reply_id in reply_ids(comment_id)]
    return node


@priming.generator
def prime_thread(comment_id):
    prime_comment(comment_id)
    prime_reply_ids(comment_id)
    yield
    users.prime_username(comment(comment_id)["author_id"])
    if comment(comment_id)["votes"] <= COLLAPSE_BELOW_VOTES:
        return
    for reply_id in reply_ids(comment_id):
        prime_thread(reply_id)


@mc.cached("comments.count")
def comment_count(comment_id):
    """The comment and all its replies, collapsed or not."""
    return 1 + sum(comment_count(reply_id) for reply_id in reply_ids(comment_id))


prime_comment_count = comment_count.prime

"""Discussion forums: one per course, threads of nested replies."""

from asynq import priming

from .. import db
from ..cache import mc
from .catalog import course_row, prime_course_row
from .learning import enrolled_user_ids, prime_enrolled_user_ids
from .users import User, display_name, prime_display_name


@mc.cached("forum.threads")
def thread_ids_of_course(course_id):
    return db.fetch_ids("threads", course_id=course_id)


@mc.cached("forum.thread")
def thread_row(thread_id):
    return db.fetch_one("threads", thread_id)


@mc.cached("forum.post")
def post_row(post_id):
    return db.fetch_one("posts", post_id)


@mc.cached("forum.replies")
def reply_ids(post_id):
    return db.fetch_ids("posts", parent_id=post_id)


@mc.cached("forum.post_ids")
def post_ids_of_thread(thread_id):
    return db.fetch_ids("posts", thread_id=thread_id)


@mc.cached("forum.reply_count")
def reply_count(thread_id):
    return db.count_where("posts", thread_id=thread_id) - 1


prime_thread_ids_of_course = thread_ids_of_course.prime
prime_thread_row = thread_row.prime
prime_post_row = post_row.prime
prime_reply_ids = reply_ids.prime
prime_reply_count = reply_count.prime
prime_post_ids_of_thread = post_ids_of_thread.prime


def badge(user_id, course_id):
    if user_id in course_row(course_id)["instructor_ids"]:
        return "instructor"
    if user_id in enrolled_user_ids(course_id):
        return "student"
    return None


def prime_badge(course_id):
    prime_course_row(course_id)
    prime_enrolled_user_ids(course_id)


def render_post(post_id, course_id, depth=0):
    post = post_row(post_id)
    return {
        "id": post_id,
        "author": display_name(post["author_id"]),
        "initials": User.initials(post["author_id"]),
        "badge": badge(post["author_id"], course_id),
        "body": post["body"],
        "depth": depth,
        "replies": [render_post(reply, course_id, depth + 1) for reply in reply_ids(post_id)],
    }


@priming.generator
def prime_render_post(post_id):
    prime_post_row(post_id)
    prime_reply_ids(post_id)
    yield
    prime_display_name(post_row(post_id)["author_id"])
    User.prime_initials(post_row(post_id)["author_id"])
    for reply in reply_ids(post_id):
        prime_render_post(reply)


@priming.generator
def prime_whole_thread(thread_id):
    """What render_post() reads for a whole thread, in three rounds however deep it is."""
    prime_thread_row(thread_id)
    prime_post_ids_of_thread(thread_id)
    yield
    for post_id in post_ids_of_thread(thread_id):
        prime_post_row(post_id)
        prime_reply_ids(post_id)
    yield
    for post_id in post_ids_of_thread(thread_id):
        author_id = post_row(post_id)["author_id"]
        prime_display_name(author_id)
        User.prime_initials(author_id)


def count_participants(post_id):
    """Distinct authors in the subtree, walked without recursion (threads can be deep)."""
    authors = set()
    stack = [post_id]
    while stack:
        current = stack.pop()
        authors.add(post_row(current)["author_id"])
        stack.extend(reply_ids(current))
    return len(authors)


def thread_listing(course_id):
    threads = [thread_row(thread_id) for thread_id in thread_ids_of_course(course_id)]
    threads.sort(key=lambda thread: (not thread["pinned"], -reply_count(thread["id"])))
    return [
        {
            "title": thread["title"],
            "replies": reply_count(thread["id"]),
            "started_by": display_name(post_row(thread["root_post_id"])["author_id"]),
        }
        for thread in threads
    ]


@priming.generator
def prime_thread_listing(course_id):
    prime_thread_ids_of_course(course_id)
    yield
    for thread_id in thread_ids_of_course(course_id):
        prime_thread_row(thread_id)
        prime_reply_count(thread_id)
    yield
    for thread_id in thread_ids_of_course(course_id):
        prime_post_row(thread_row(thread_id)["root_post_id"])
    yield
    for thread_id in thread_ids_of_course(course_id):
        prime_display_name(post_row(thread_row(thread_id)["root_post_id"])["author_id"])

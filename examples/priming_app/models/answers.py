"""Answers: cached facts, a priming generator that primes users (another module)."""

import db
from cache import mc

from asynq import priming
from models import users
from models.users import display_name, prime_display_name


@mc.cached("upvoters_of_answer")
def upvoters_of_answer(aid):
    return db.query("answer", aid)["upvoters"]


prime_upvoters_of_answer = upvoters_of_answer.prime


@mc.cached("text_of_answer")
def text_of_answer(aid):
    return db.query("answer", aid)["text"]


prime_text_of_answer = text_of_answer.prime


def upvoter_names(aid):
    """The display names of the people who upvoted an answer."""
    uids = upvoters_of_answer(aid)
    return [display_name(uid) for uid in uids]


@priming.generator
def prime_upvoter_names(aid):
    prime_upvoters_of_answer(aid)
    yield  # the upvoters are fetched here, with everything else pending
    for uid in upvoters_of_answer(aid):
        prime_display_name(uid)


def answer_card(aid):
    text = text_of_answer(aid)
    names = upvoter_names(aid)
    return {"aid": aid, "text": text, "upvoters": names}


def prime_answer_card(aid):
    prime_text_of_answer(aid)
    prime_upvoter_names(aid)


def answer_page(aids):
    """One card per answer."""
    cards = []
    for aid in aids:
        cards.append(answer_card(aid))
    return cards


def prime_answer_page(aids):
    for aid in aids:
        prime_answer_card(aid)


def first_upvoter_name(aid):
    """The name of the first upvoter (reads a user through the users module)."""
    uids = upvoters_of_answer(aid)
    return users.name_of_user(uids[0])


@priming.generator
def prime_first_upvoter_name(aid):
    prime_upvoters_of_answer(aid)
    yield
    users.prime_name_of_user(upvoters_of_answer(aid)[0])


def most_upvoted(aids):
    """The answer with the most upvoters; the codemod leaves it for review (lambda)."""
    return max(aids, key=lambda aid: len(upvoters_of_answer(aid)))


def prime_most_upvoted(aids):
    for aid in aids:
        prime_upvoters_of_answer(aid)

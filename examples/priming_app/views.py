"""Views: each primes what it is about to read, then reads it."""

from models.answers import (
    answer_page,
    first_upvoter_name,
    most_upvoted,
    prime_answer_page,
    prime_first_upvoter_name,
    prime_most_upvoted,
)
from models.users import name_of_user, prime_name_of_user


def answers_view(aids):
    prime_answer_page(aids)
    return answer_page(aids)


def top_view(aids):
    prime_most_upvoted(aids)
    top = most_upvoted(aids)
    prime_first_upvoter_name(top)
    return {"top": top, "first_upvoter": first_upvoter_name(top)}


def names_view(uids):
    for uid in uids:
        prime_name_of_user(uid)
    return [name_of_user(uid) for uid in uids]

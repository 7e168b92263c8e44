"""Twins named by an alias in the class body: ``prime_link = prime`` or
``prime_card = prime_title`` makes the right-hand side the twin of ``link`` / ``card``, so
the method converts and callers that prime through ``User(x).prime()`` are followed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import run


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


BASE = """
from rtcache import mc


@mc.cached("user")
def user_row(x):
    return {"id": x, "handle": "h%d" % x, "name": "User %d" % x}


@mc.cached("title")
def title_row(x):
    return "title-%d" % x


prime_user_row = user_row.prime
prime_title_row = title_row.prime


class User:
    def __init__(self, user_id):
        self.id = user_id

    def prime(self):
        prime_user_row(self.id)

    def link(self):
        row = user_row(self.id)
        return {"id": self.id, "handle": row["handle"]}

    prime_link = prime


class Book:
    def __init__(self, book_id):
        self.id = book_id

    def title(self):
        return title_row(self.id)

    def prime_title(self):
        prime_title_row(self.id)

    def card(self):
        return {"id": self.id, "title": title_row(self.id)}

    prime_card = prime_title
"""

LOGIC = """
from rtbase import Book, User


def byline(user_id, book_id):
    return {"by": User(user_id).link(), "book": Book(book_id).card()}


def prime_byline(user_id, book_id):
    User(user_id).prime()
    Book(book_id).prime_card()


def main(xs):
    for x in xs:
        prime_byline(x, x + 1)
    return [byline(x, x + 1) for x in xs]
"""


def _migrate(base: str = BASE, logic: str = LOGIC):
    return migrate_sources({"rt/rtbase.py": base.lstrip(), "rt/rtlogic.py": logic.lstrip()})


def test_a_method_whose_twin_is_an_alias_in_the_class_body_is_converted():
    result = _migrate()
    assert ("rt/rtbase.py", "User.link") in result.converted
    assert ("rt/rtbase.py", "Book.card") in result.converted
    code = result.code["rt/rtbase.py"]
    assert "    @asynq()\n    def link(self):\n        row = yield user_row.asynq(self.id)\n" in code
    assert "    prime_link = prime\n" in code and "    prime_card = prime_title\n" in code


def test_priming_through_the_aliased_method_is_followed_to_the_method_it_primes():
    result = _migrate()
    assert not [r for r in result.refusals if r.function == "byline"]
    assert ("rt/rtlogic.py", "byline") in result.converted


def test_the_alias_that_stays_is_reported_as_kept_at_its_line():
    result = _migrate()
    kept = {k.function: (k.line, k.reason) for k in result.kept if k.path == "rt/rtbase.py"}
    line, reason = kept["User.prime_link"]
    assert BASE.lstrip().splitlines()[line - 1] == "    prime_link = prime"
    assert reason.startswith("User.prime_link is kept although User.link is converted")


def test_a_priming_method_aliased_as_the_twin_of_two_methods_is_not_followed():
    base = BASE.replace(
        "    prime_link = prime\n",
        "    prime_link = prime\n\n    def handle(self):\n        return user_row(self.id)"
        '["handle"]\n\n    prime_handle = prime\n',
    )
    result = _migrate(base)
    reasons = [r.reason for r in result.refusals if r.function == "byline"]
    assert reasons == [
        "its twin prime_byline calls User(user_id).prime, a priming method of User (in "
        "rt/rtbase.py) that is no method's twin, so what it primes is not followed; "
        "converting byline would lose that batching. Convert it by hand, or prime through "
        "twins that name what they prime, then rerun."
    ]


def test_class_twin_aliases_keep_outputs_and_round_trips_cold_and_warm(server):
    result = _migrate()
    xs = [1, 2, 3]
    before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), xs)
    after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], xs)
    assert [value for value, _ in after] == [value for value, _ in before]
    for (_, trips_before), (_, trips_after) in zip(before, after, strict=True):
        assert trips_after <= trips_before

"""Loaders on a real SQLite database: the exact statements and their keys, round by round."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from asynq import asynq, get_scheduler
from asynq.loaders import Loader, MissingKeyError, request_scope
from examples.sqlite_blog.main import (
    Blog,
    QueryLog,
    User,
    create_db,
    render_page,
    render_page_by_hand,
    render_page_naive,
    select_users,
)


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = create_db(answers=20, upvoters=5, users=60)
    yield connection
    connection.close()


def in_list(statement: str) -> list[int]:
    """The ids of a statement's ``IN (...)`` (SQLite's trace shows the bound values)."""
    match = re.search(r"IN \(([^)]*)\)", statement)
    assert match, statement
    return [int(x) for x in match.group(1).split(",")]


def table(statement: str) -> str:
    match = re.search(r"FROM (\w+)", statement)
    assert match, statement
    return match.group(1)


def expected_user_ids(conn: sqlite3.Connection, answer_ids: list[int]) -> list[int]:
    """The distinct user ids of a page, in the order ``render_answer`` first requests them."""
    seen: dict[int, None] = {}
    authors = dict(conn.execute("SELECT id, author_id FROM answers").fetchall())
    for aid in answer_ids:
        seen.setdefault(authors[aid])
        for (uid,) in conn.execute(
            "SELECT user_id FROM upvotes WHERE answer_id = ? ORDER BY user_id", (aid,)
        ):
            seen.setdefault(uid)
    return list(seen)


def test_the_blog_page_takes_two_queries_one_per_level(conn: sqlite3.Connection) -> None:
    answer_ids = list(range(1, 21))
    users = expected_user_ids(conn, answer_ids)
    log = QueryLog(conn)
    page = render_page(Blog(conn), answer_ids)
    assert len(page) == 20
    assert [table(s) for s in log.statements] == ["answers", "users"]
    assert in_list(log.statements[0]) == answer_ids
    assert in_list(log.statements[1]) == users  # distinct, in first-request order
    assert get_scheduler().stats.rounds == 2


def test_the_loader_page_equals_the_hand_written_and_the_naive_pages(
    conn: sqlite3.Connection,
) -> None:
    answer_ids = list(range(1, 21))
    page = render_page(Blog(conn), answer_ids)
    assert page == render_page_by_hand(conn, answer_ids) == render_page_naive(conn, answer_ids)


def test_max_batch_size_splits_the_user_query_into_several_queries_of_the_same_round(
    conn: sqlite3.Connection,
) -> None:
    answer_ids = list(range(1, 21))
    users = expected_user_ids(conn, answer_ids)
    log = QueryLog(conn)
    render_page(Blog(conn, max_batch_size=25), answer_ids)
    user_queries = [in_list(s) for s in log.statements[1:]]
    assert user_queries == [users[i : i + 25] for i in range(0, len(users), 25)]
    assert len(user_queries) > 1
    assert get_scheduler().stats.rounds == 2


def test_a_second_page_in_the_same_request_reads_only_what_is_new(
    conn: sqlite3.Connection,
) -> None:
    blog = Blog(conn)
    with request_scope():
        render_page(blog, [1, 2])
        log = QueryLog(conn)
        render_page(blog, [1, 2])
        assert log.statements == []
        render_page(blog, [2, 3])
    assert [table(s) for s in log.statements][:1] == ["answers"]
    assert in_list(log.statements[0]) == [3]


def test_each_page_outside_a_request_scope_is_a_request_of_its_own(
    conn: sqlite3.Connection,
) -> None:
    blog = Blog(conn)
    render_page(blog, [1, 2])
    log = QueryLog(conn)
    render_page(blog, [1, 2])
    assert [table(s) for s in log.statements] == ["answers", "users"]


def test_a_missing_row_fails_only_the_answer_that_needs_it(conn: sqlite3.Connection) -> None:
    blog = Blog(conn)

    @asynq()
    def safe(answer_id: int) -> Any:
        try:
            answer = yield blog.answer.asynq(answer_id)
        except MissingKeyError as error:
            return str(error)
        return answer.id

    @asynq()
    def page() -> Any:
        return (yield [safe.asynq(1), safe.asynq(999), safe.asynq(2)])

    assert page() == [1, "load_answer: the batch function's dict has no entry for key 999", 2]


def test_a_failing_query_fails_its_whole_level_and_is_retried_by_the_next_request(
    conn: sqlite3.Connection,
) -> None:
    conn.execute("ALTER TABLE users RENAME TO people")
    log = QueryLog(conn)
    blog = Blog(conn)
    with request_scope():
        with pytest.raises(sqlite3.OperationalError, match="no such table: users"):
            render_page(blog, [1, 2])
        conn.execute("ALTER TABLE people RENAME TO users")
        log.clear()
        page = render_page(blog, [1, 2])
    assert len(page) == 2
    # The answers were cached; the users' failure cached nothing, so they are queried again.
    assert [table(s) for s in log.statements] == ["users"]


def test_a_loader_over_one_in_query_serves_a_synchronous_call(conn: sqlite3.Connection) -> None:
    log = QueryLog(conn)
    load_user: Loader[int, User] = Loader(lambda ids: select_users(conn, ids))
    assert load_user(7) == User(7, "user7")
    assert log.statements == ["SELECT id, name FROM users WHERE id IN (7)"]

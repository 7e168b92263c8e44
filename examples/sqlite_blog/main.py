"""The blog workload on SQLite: one ``IN`` query per level of the page, written per answer.

A page shows 200 answers; each answer shows its author's name and the names of its 50 upvoters.
``render_answer`` is written for one answer, as if there were no batching; the loaders turn the
page's 200 answer lookups into one ``SELECT ... WHERE id IN (...)`` and its 10,200 user lookups
(about 2,000 distinct users) into one more. Two queries in total, the same as the hand-written
version below, against 10,400 for the naive one (1 + 1 + 50 per answer).

    python -m examples.sqlite_blog.main [--answers 200] [--upvoters 50] [--users 2000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asynq import asynq
from asynq.loaders import Loader


@dataclass(frozen=True)
class Answer:
    id: int
    author_id: int
    text: str
    upvoter_ids: tuple[int, ...]


@dataclass(frozen=True)
class User:
    id: int
    name: str


# -- the database ----------------------------------------------------------------------------------


def create_db(
    answers: int = 200, upvoters: int = 50, users: int = 2000, seed: int = 0
) -> sqlite3.Connection:
    """An in-memory blog: ``users``, ``answers`` and ``upvotes`` filled with random data."""
    rng = random.Random(seed)
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE answers (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL, text TEXT);
        CREATE TABLE upvotes (answer_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
                              PRIMARY KEY (answer_id, user_id));
        """
    )
    conn.executemany(
        "INSERT INTO users VALUES (?, ?)", [(i, f"user{i}") for i in range(1, users + 1)]
    )
    conn.executemany(
        "INSERT INTO answers VALUES (?, ?, ?)",
        [(a, rng.randint(1, users), f"answer {a}") for a in range(1, answers + 1)],
    )
    conn.executemany(
        "INSERT INTO upvotes VALUES (?, ?)",
        [
            (a, u)
            for a in range(1, answers + 1)
            for u in rng.sample(range(1, users + 1), min(upvoters, users))
        ],
    )
    conn.commit()
    return conn


class QueryLog:
    """Records every SQL statement a connection runs (through SQLite's trace callback)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.statements: list[str] = []
        conn.set_trace_callback(self.statements.append)

    def clear(self) -> None:
        self.statements.clear()


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


_ANSWERS_SQL = (
    "SELECT a.id, a.author_id, a.text, group_concat(v.user_id) FROM answers a "
    "LEFT JOIN upvotes v ON v.answer_id = a.id WHERE a.id IN ({}) GROUP BY a.id"
)
_USERS_SQL = "SELECT id, name FROM users WHERE id IN ({})"


def _answer(row: Sequence[Any]) -> Answer:
    upvoters = tuple(sorted(int(u) for u in row[3].split(","))) if row[3] else ()
    return Answer(row[0], row[1], row[2], upvoters)


def select_answers(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, Answer]:
    """One query: the answers with these ids, with their upvoters."""
    rows = conn.execute(_ANSWERS_SQL.format(_placeholders(len(ids))), list(ids))
    return {row[0]: _answer(row) for row in rows}


def select_users(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, User]:
    """One query: the users with these ids."""
    rows = conn.execute(_USERS_SQL.format(_placeholders(len(ids))), list(ids))
    return {row[0]: User(row[0], row[1]) for row in rows}


# -- with loaders ----------------------------------------------------------------------------------


class Blog:
    """The blog's loaders over a connection (each caches what it loaded for one request)."""

    def __init__(self, conn: sqlite3.Connection, max_batch_size: int | None = None) -> None:
        self.conn = conn
        self.answer: Loader[int, Answer] = Loader(
            lambda ids: select_answers(conn, ids), name="load_answer"
        )
        self.user: Loader[int, User] = Loader(
            lambda ids: select_users(conn, ids), max_batch_size=max_batch_size, name="load_user"
        )


@asynq()
def render_answer(blog: Blog, answer_id: int) -> Any:
    """One answer, written as if alone: its text, author name and upvoter names."""
    answer = yield blog.answer.asynq(answer_id)
    author, upvoters = yield (
        blog.user.asynq(answer.author_id),
        [blog.user.asynq(uid) for uid in answer.upvoter_ids],
    )
    return {
        "id": answer.id,
        "text": answer.text,
        "author": author.name,
        "upvoters": [user.name for user in upvoters],
    }


@asynq()
def render_page(blog: Blog, answer_ids: Sequence[int]) -> Any:
    """The page: every answer, rendered concurrently; two queries in all."""
    return (yield [render_answer.asynq(blog, aid) for aid in answer_ids])


# -- baselines -------------------------------------------------------------------------------------


def render_page_by_hand(conn: sqlite3.Connection, answer_ids: Sequence[int]) -> list[Any]:
    """The same page with the two queries written by hand: the batching done manually."""
    answers = select_answers(conn, answer_ids)
    user_ids = {a.author_id for a in answers.values()}
    user_ids.update(u for a in answers.values() for u in a.upvoter_ids)
    users = select_users(conn, sorted(user_ids))
    return [
        {
            "id": a.id,
            "text": a.text,
            "author": users[a.author_id].name,
            "upvoters": [users[u].name for u in a.upvoter_ids],
        }
        for a in (answers[aid] for aid in answer_ids)
    ]


def render_page_naive(conn: sqlite3.Connection, answer_ids: Sequence[int]) -> list[Any]:
    """The same page with one query per lookup (the N+1 pattern)."""
    page = []
    for aid in answer_ids:
        answer = select_answers(conn, [aid])[aid]
        author = select_users(conn, [answer.author_id])[answer.author_id]
        upvoters = [select_users(conn, [u])[u] for u in answer.upvoter_ids]
        page.append(
            {
                "id": answer.id,
                "text": answer.text,
                "author": author.name,
                "upvoters": [user.name for user in upvoters],
            }
        )
    return page


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--upvoters", type=int, default=50)
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args(argv)

    conn = create_db(args.answers, args.upvoters, args.users)
    log = QueryLog(conn)
    answer_ids = list(range(1, args.answers + 1))
    results = {}
    for label, run in [
        ("asynq loaders", lambda: render_page(Blog(conn), answer_ids)),
        ("hand-written", lambda: render_page_by_hand(conn, answer_ids)),
        ("naive (N+1)", lambda: render_page_naive(conn, answer_ids)),
    ]:
        log.clear()
        started = time.perf_counter()
        results[label] = run()
        elapsed = time.perf_counter() - started
        print(f"{label:14} {len(log.statements):6} queries  {elapsed * 1000:8.1f} ms")
    same = results["asynq loaders"] == results["hand-written"] == results["naive (N+1)"]
    print(f"same page from all three: {same}")
    conn.close()
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The examples run as a user runs them: ``python -m examples.X.main`` and by path."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import ROOT


def run(*args: str) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout


def test_the_sqlite_blog_example_renders_the_page_with_two_queries() -> None:
    out = run("-m", "examples.sqlite_blog.main")
    assert re.search(r"^asynq loaders\s+2 queries", out, re.M), out
    assert re.search(r"^hand-written\s+2 queries", out, re.M), out
    assert re.search(r"^naive \(N\+1\)\s+10400 queries", out, re.M), out
    assert "same page from all three: True" in out


def test_the_sqlite_blog_example_runs_by_path() -> None:
    out = run("examples/sqlite_blog/main.py", "--answers", "5", "--upvoters", "3", "--users", "9")
    assert re.search(r"^asynq loaders\s+2 queries", out, re.M), out
    assert re.search(r"^naive \(N\+1\)\s+25 queries", out, re.M), out


def test_the_redis_example_takes_two_mgets_against_a_running_server(redis_port: int) -> None:
    out = run("-m", "examples.redis_mget.main", "--port", str(redis_port), "--answers", "20")
    assert re.search(r"^asynq loaders\s+2 MGET\s", out, re.M), out
    assert re.search(r"^naive GETs\s+1040 GET\s", out, re.M), out
    assert "same page from both: True" in out


def test_the_redis_example_starts_and_stops_its_own_server() -> None:
    out = run("examples/redis_mget/main.py", "--answers", "5", "--upvoters", "2", "--users", "10")
    assert re.search(r"^asynq loaders\s+2 MGET\s", out, re.M), out
    assert "same page from both: True" in out


def test_the_http_example_fetches_the_same_items_both_ways() -> None:
    out = run("-m", "examples.http_concurrent.main", "--keys", "20", "--delay", "0.01")
    assert "20 calls, 10 ms each, 16 workers" in out
    assert "concurrent batch" in out and "2 wave(s) of up to 16 calls" in out
    assert "same results: True" in out


def test_the_http_example_runs_by_path() -> None:
    out = run("examples/http_concurrent/main.py", "--keys", "4", "--delay", "0", "--workers", "2")
    assert "same results: True" in out

"""The bookshop example, a legacy priming application, runs end to end through its driver and
reports every page's output and costs the same way on every run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "bookshop_priming"
PAGES = [
    "book",
    "author",
    "shelves",
    "review",
    "profile",
    "feed",
    "recommendations",
    "orders",
    "genre",
    "staff",
    "rate",
]
FIELDS = ["output", "round_trips_cold", "round_trips_warm", "db_queries_cold"]


def run_driver(app: Path, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(app / "drive.py"), "--memcached", address],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(app.parent),
        env={k: v for k, v in os.environ.items() if not k.startswith("BOOKSHOP_")},
    )


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_the_driver_exits_zero_and_prints_every_page_in_order(memcached: Any) -> None:
    report = report_of(run_driver(APP, memcached.address))
    assert list(report) == ["pages"]
    assert list(report["pages"]) == PAGES
    for name, page in report["pages"].items():
        assert sorted(page) == sorted(FIELDS), name
        assert page["output"], name
        assert page["db_queries_cold"] > 0, name


def test_page_outputs_are_canonical_json_with_sorted_keys(memcached: Any) -> None:
    report = report_of(run_driver(APP, memcached.address))

    def check(value: Any) -> None:
        if isinstance(value, dict):
            assert list(value) == sorted(value)
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)

    for page in report["pages"].values():
        check(page["output"])


def test_priming_batches_every_page_into_a_few_round_trips(memcached: Any) -> None:
    pages = report_of(run_driver(APP, memcached.address))["pages"]
    for name, page in pages.items():
        assert 1 <= page["round_trips_warm"] <= page["round_trips_cold"] <= 8, (name, page)


def test_two_runs_print_the_same_bytes(memcached: Any) -> None:
    first = run_driver(APP, memcached.address)
    second = run_driver(APP, memcached.address)
    report_of(first)
    assert first.stdout == second.stdout


def test_a_copy_of_the_example_folder_runs_on_its_own(memcached: Any, tmp_path: Path) -> None:
    copy = tmp_path / "bookshop_priming"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert run_driver(copy, memcached.address).stdout == run_driver(APP, memcached.address).stdout


def test_a_malformed_memcached_address_is_refused_with_the_expected_form() -> None:
    result = run_driver(APP, "localhost")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "--memcached expects HOST:PORT, got 'localhost'" in result.stderr


def test_a_memcached_address_where_nothing_listens_is_refused() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_driver(APP, f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"nothing answers on 127.0.0.1:{port}; start memcached there" in result.stderr
    assert "Traceback" not in result.stderr

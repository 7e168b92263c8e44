"""The courses example app (legacy priming) runs under its driver against a real memcached."""

import json
import subprocess
import sys
from pathlib import Path

DRIVE = Path(__file__).resolve().parents[2] / "examples" / "courses_priming" / "drive.py"

PAGES = [
    "catalog",
    "course",
    "prerequisites",
    "lesson",
    "complete_lesson",
    "my_learning",
    "quiz_results",
    "certificate",
    "forum_thread",
    "reply",
    "course_forum",
    "company_usage",
    "instructor_dashboard",
    "audit",
]


def run_driver(address):
    result = subprocess.run(
        [sys.executable, str(DRIVE), "--memcached", address],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_driver_prints_every_page_with_its_round_trips_and_queries(memcached):
    report = json.loads(run_driver(memcached.address))
    assert list(report) == ["pages"]
    assert list(report["pages"]) == PAGES
    for name, page in report["pages"].items():
        assert set(page) == {"output", "round_trips_cold", "round_trips_warm", "db_queries_cold"}
        assert page["output"] not in (None, {}, []), name
        assert 1 <= page["round_trips_warm"] <= page["round_trips_cold"], name
        assert page["db_queries_cold"] >= 1, name


def test_a_warm_page_costs_a_few_round_trips_however_many_keys_it_reads(memcached):
    pages = json.loads(run_driver(memcached.address))["pages"]
    assert all(page["round_trips_warm"] <= 5 for page in pages.values()), {
        name: page["round_trips_warm"] for name, page in pages.items()
    }
    assert len(pages["instructor_dashboard"]["output"]["widgets"]) == 6


def test_the_completed_lesson_shows_on_the_pages_after_it(memcached):
    pages = json.loads(run_driver(memcached.address))["pages"]
    assert pages["complete_lesson"]["output"]["status"] == "done"
    courses = pages["my_learning"]["output"]["courses"]
    assert courses[0]["course"] == "SQL Basics" and courses[0]["last_active_day"] == 700
    assert [entry["event"] for entry in pages["audit"]["output"]] == [
        "lesson_completed",
        "usage_report",
        "usage_report",
    ]


def test_two_runs_print_the_same_bytes(memcached):
    first = run_driver(memcached.address)
    memcached.flush_all()
    assert run_driver(memcached.address) == first

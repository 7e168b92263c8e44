"""The ticket marketplace written with legacy priming (examples/tickets_priming): its driver
renders every page cold and warm against a real memcached and reports what each cost."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).resolve().parents[2] / "examples" / "tickets_priming" / "drive.py"

PAGES = [
    "event",
    "seat_map",
    "order",
    "my_orders",
    "seller_dashboard",
    "listing_history",
    "fraud_queue",
    "notifications",
    "discussion",
    "performer",
    "home",
    "checkout",
    "change_price",
]


def drive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DRIVER), *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def two_runs(memcached_session: Any) -> tuple[subprocess.CompletedProcess[str], ...]:
    address = memcached_session.address
    return drive("--memcached", address), drive("--memcached", address)


def test_the_driver_exits_0_and_prints_one_json_object(two_runs: Any) -> None:
    first = two_runs[0]
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("\n") == 1
    assert list(json.loads(first.stdout)) == ["pages"]


def test_every_page_is_reported_in_the_fixed_order_with_its_figures(two_runs: Any) -> None:
    pages = json.loads(two_runs[0].stdout)["pages"]
    assert list(pages) == PAGES
    for name, page in pages.items():
        assert sorted(page) == ["db_queries_cold", "output", "round_trips_cold",
                                "round_trips_warm"], name
        assert page["output"], name
        for figure in ("db_queries_cold", "round_trips_cold", "round_trips_warm"):
            assert isinstance(page[figure], int), (name, figure)


def test_outputs_are_canonical_json_with_sorted_keys(two_runs: Any) -> None:
    pages = json.loads(two_runs[0].stdout)["pages"]
    for name, page in pages.items():
        text = json.dumps(page["output"])
        assert text == json.dumps(page["output"], sort_keys=True), name


def test_two_runs_print_the_same_bytes(two_runs: Any) -> None:
    first, second = two_runs
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout


def test_cold_pages_query_the_database_and_warm_pages_batch_their_reads(two_runs: Any) -> None:
    pages = json.loads(two_runs[0].stdout)["pages"]
    for name, page in pages.items():
        assert page["db_queries_cold"] > 0, name
        assert 1 <= page["round_trips_warm"] <= page["round_trips_cold"], name
        # priming batches: a warm page costs about the depth of what it reads, not its keys
        assert page["round_trips_warm"] <= 6, name


def test_pages_render_what_the_data_holds(two_runs: Any) -> None:
    pages = json.loads(two_runs[0].stdout)["pages"]
    assert pages["order"]["output"]["refunds"] == [
        {"amount": "$20.00", "reason": "obstructed view"},
        {"amount": "$30.00", "reason": "late entry"},
    ]
    assert pages["listing_history"]["output"]["hops"] == 2
    assert pages["change_price"]["output"]["price_cents"] == 7250
    assert pages["fraud_queue"]["output"]["scores_billed"] == 6


def test_a_malformed_memcached_address_is_refused_with_the_expected_form() -> None:
    result = drive("--memcached", "localhost")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "drive.py: --memcached expects HOST:PORT, e.g. 127.0.0.1:11211, got 'localhost'\n"
    )


# -- the proxy's reading of the client's bytes --------------------------------------------------


def _connection() -> Any:
    spec = importlib.util.spec_from_file_location("tickets_drive", DRIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._Connection(proxy=None, client=None, upstream=None)


def test_retrieval_commands_are_recognised_by_their_verb() -> None:
    for line in (b"get a b\r\n", b"gets a\r\n", b"gat 10 a\r\n", b"gats 10 a\r\n", b"mg a v\r\n"):
        assert _connection()._has_retrieval(line), line
    for line in (b"delete a noreply\r\n", b"version\r\n", b"touch a 10\r\n"):
        assert not _connection()._has_retrieval(line), line


def test_the_data_of_a_write_is_not_read_as_a_command() -> None:
    connection = _connection()
    assert not connection._has_retrieval(b"set k 0 0 7 noreply\r\nget abc\r\n")
    assert not connection._has_retrieval(b"ms k 7 q\r\nget abc\r\n")
    assert connection._has_retrieval(b"set k 0 0 1 noreply\r\nx\r\nget k\r\n")


def test_a_command_split_across_reads_counts_when_its_line_is_complete() -> None:
    connection = _connection()
    assert not connection._has_retrieval(b"set k 0 0 10 noreply\r\n01234")
    assert not connection._has_retrieval(b"56789\r\nge")
    assert connection._has_retrieval(b"t k\r\n")

"""pyanalyze, the static checker for asynq code, reads code written on this asynq as it reads
code written on asynq 1.6: it infers what each `yield` gives back and catches a forgotten `yield`
and a synchronous call inside an asynq function.

pyanalyze recognises asynq objects by introspection, so these tests run it on the files in
``cases/`` and compare its findings with the ``# expect: code: description`` comments there.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "cases"

# pyanalyze 0.13 evaluates an annotation that names `_pytest.python_api`, which pytest 8.4 and
# later no longer have; it skips that part when pytest cannot be imported, so hide pytest from it.
LAUNCHER = (
    "import sys; sys.modules['pytest'] = sys.modules['_pytest'] = None; "
    "from pyanalyze.name_check_visitor import NameCheckVisitor; "
    "sys.exit(NameCheckVisitor.main())"
)

_EXPECT = re.compile(r"# expect: (?P<code>\w+): (?P<description>.*)$")

Finding = tuple[int, str, str]


def run_pyanalyze(path: Path, tmp_path: Path) -> list[Finding]:
    """pyanalyze's findings on ``path``, as (line, code, description), in line order."""
    if importlib.util.find_spec("pyanalyze") is None:
        pytest.fail(
            "pyanalyze is not installed; install it without its dependency on the other asynq "
            "distribution: pip install --no-deps pyanalyze==0.13.1 (its other dependencies are "
            "in this project's test extra)"
        )
    report = tmp_path / "findings.json"
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(path), "--json-output", str(report)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    if not report.exists():
        pytest.fail(f"pyanalyze wrote no report (exit {done.returncode}):\n{done.stderr}")
    findings = json.loads(report.read_text())
    return sorted((f["lineno"], f["code"], f["description"]) for f in findings)


def expected_findings(path: Path) -> list[Finding]:
    """The findings the ``# expect:`` comments of ``path`` announce."""
    expected = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            description = match["description"].replace("{module}", str(path))
            expected.append((lineno, match["code"], description))
    return sorted(expected)


def test_pyanalyze_infers_the_value_that_each_yield_gives_back(tmp_path: Path) -> None:
    # Functions, methods, classmethods, staticmethods, tuples of tasks and amap & co.
    path = CASES / "yield_types.py"
    expected = expected_findings(path)
    assert len(expected) == 10
    assert run_pyanalyze(path, tmp_path) == expected


def test_pyanalyze_catches_a_missing_yield_and_a_synchronous_call_in_asynq_code(
    tmp_path: Path,
) -> None:
    path = CASES / "mistakes.py"
    expected = expected_findings(path)
    assert {code for _, code, _ in expected} == {
        "incompatible_return_value",
        "task_needs_yield",
        "impure_async_call",
    }
    assert run_pyanalyze(path, tmp_path) == expected

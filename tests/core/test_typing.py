"""A type checker sees through the decorators: ``f(x)`` is ``T``, ``f.asynq(x)`` is
``AsyncTask[T]``, and parameters are checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

CASES = os.path.join(os.path.dirname(__file__), "typing_cases", "typed_usage.py")


@pytest.mark.slow
def test_mypy_accepts_typed_usage_and_flags_wrong_arguments() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--warn-unused-ignores",
            "--follow-imports=silent",
            "--python-version",
            "3.11",
            CASES,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Each wrong call carries an ignore comment; an ignore that flags nothing is itself an error,
    # so success proves both that correct usage checks and that wrong usage is caught.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout


CACHED_CASES = os.path.join(os.path.dirname(__file__), "typing_cases", "typed_cached.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_mypy_sees_the_parameters_and_return_type_of_cached_functions() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--warn-unused-ignores",
            "--follow-imports=silent",
            "--python-version",
            "3.11",
            CACHED_CASES,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout


@pytest.mark.slow
def test_pyright_sees_the_parameters_and_return_type_of_cached_functions(tmp_path: Any) -> None:
    # Unnecessary ignores are errors here too, so every wrong call must be flagged by pyright.
    config = {
        "pythonVersion": "3.11",
        "extraPaths": [ROOT],
        "reportUnnecessaryTypeIgnoreComment": "error",
        "enableTypeIgnoreComments": True,
    }
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "pyright", "--project", str(tmp_path), CACHED_CASES],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout

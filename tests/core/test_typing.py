"""A type checker sees through the decorators: ``f(x)`` is ``T``, ``f.asynq(x)`` is
``AsyncTask[T]``, and parameters are checked."""

from __future__ import annotations

import os
import subprocess
import sys

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

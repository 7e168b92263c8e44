"""The `asynq` command and `python -m asynq`: version, help, the demo."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import asynq
from asynq import demo


def test_asynq_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        demo.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"asynq {asynq.__version__}\n"


def test_the_help_is_plain_text_and_explains_every_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        demo.main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text and "**" not in text
    options = re.findall(r"^  (--?[a-z-]+)", text, re.MULTILINE)
    assert options == ["-h", "--version", "--servers", "--answers", "--upvoters", "--users",
                       "--repeat", "--trace"]
    for line in text.splitlines():
        if re.match(r"^  --[a-z]+ ?[A-Z:N]*$", line):
            pytest.fail(f"an option has no explanation: {line!r}")


def test_python_m_asynq_is_the_demo_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "asynq", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"asynq {asynq.__version__}\n"


def test_the_installed_distribution_is_asynq_batch_with_the_package_version() -> None:
    from importlib.metadata import distribution, packages_distributions

    assert "asynq-batch" in packages_distributions()["asynq"]
    dist = distribution("asynq-batch")
    assert dist.version == asynq.__version__
    assert dist.metadata["License-Expression"] == "Apache-2.0"
    assert "Typing :: Typed" in dist.metadata.get_all("Classifier")

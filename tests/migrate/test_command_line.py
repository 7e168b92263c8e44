"""The asynq-migrate command line as people use it: --version, help, pyproject settings,
standard input, the progress bar, and messages for files that fail."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from asynq import __version__
from asynq.migrate import load_config
from asynq.migrate._cli import build_parser
from asynq.migrate._config import find_project_config
from asynq.migrate._runner import Progress
from asynq.migrate.cli import main
from tests.migrate.test_cli import LOGIC, MODELS, make_tree

LEGACY = """\
from asynq import priming
from cache import mc


@mc.cached("f")
def f(x):
    return x + 1


prime_f = f.prime


def h(x):
    return f(x)


def prime_h(x):
    prime_f(x)
"""


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"asynq-migrate {__version__}\n"


def test_the_help_is_plain_text_and_explains_every_option():
    parser = build_parser()
    text = parser.format_help()
    assert "``" not in text and ":func:" not in text and ".. " not in text
    for action in parser._actions:
        assert action.help, f"{action.option_strings or action.dest} has no help text"
    for option in ("--write", "--jobs", "--diff", "--report", "--config", "--version"):
        assert option in text
    assert "pyproject.toml" in text and "standard input" in text


def test_settings_come_from_the_nearest_pyproject_without_config(tmp_path, capsys):
    root = make_tree(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "shop"\n\n[tool.ruff]\nline-length = 99\n\n'
            '[tool.asynq-migrate]\nprime-prefix = "warm_"\n',
            "app/__init__.py": "",
            "app/cache.py": "mc = None\n",
            "app/models.py": MODELS.replace("prime_", "warm_"),
            "app/logic.py": LOGIC.replace("prime_", "warm_"),
        },
    )
    assert find_project_config([str(root / "app" / "logic.py")]) == root / "pyproject.toml"
    config = load_config(find_project_config([str(root / "app")]))
    assert config.prime_prefix == "warm_" and config.line_length == 99
    assert main([str(root / "app"), "--jobs", "1", "--write"]) == 0
    assert "@asynq()" in (root / "app" / "logic.py").read_text()
    assert "warm_h" not in (root / "app" / "logic.py").read_text()


def test_a_pyproject_without_our_table_gives_the_defaults_and_ruffs_line_length(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.black]\nline-length = 120\n')
    config = load_config(find_project_config([str(tmp_path)]))
    assert config.prime_prefix == "prime_" and config.line_length == 120


def test_a_dash_reads_standard_input_and_writes_the_result_to_standard_output(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "asynq.migrate", "-", "--stdin-filename", "shop/m.py"],
        input=LEGACY,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "@asynq()\ndef h(x):\n    return (yield f.asynq(x))" in proc.stdout
    assert "def prime_h" not in proc.stdout


def test_a_dash_with_write_or_other_paths_is_a_usage_error(tmp_path, capsys):
    for argv, message in (
        (["-", "--write"], "--write cannot be used with - (the result goes to standard output)"),
        (["-", str(tmp_path)], "- (standard input) cannot be combined with other paths"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def test_a_dash_with_source_that_does_not_parse_fails_and_echoes_it(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "asynq.migrate", "-"],
        input="def oops(:\n    pass\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == "def oops(:\n    pass\n"
    assert proc.stderr == (
        "asynq-migrate: <stdin>: The file does not parse, so it was not migrated: invalid "
        "syntax (line 1, column 10).\n"
    )


def test_a_failed_file_shows_the_error_message_not_a_caret(tmp_path, capsys):
    (tmp_path / "oops.py").write_text("def oops(:\n    pass\n")
    assert main([str(tmp_path), "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert (
        f"  {tmp_path}/oops.py: The file does not parse, so it was not migrated: invalid "
        "syntax (line 1, column 10).\n"
    ) in err


def test_the_progress_bar_shows_the_time_elapsed_and_an_estimate_of_the_time_left():
    bar = Progress("migrate", 40)
    bar.done = 10
    assert bar.render(3.0) == (
        "migrate   [#######.......................] 10/40 files, 0:03 elapsed, about 0:09 left"
    )
    bar.done = 40
    assert bar.render(3725.0) == f"migrate   [{'#' * 30}] 40/40 files, 1:02:05 elapsed"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    drawn = Progress("analyse", 2, tty)
    drawn.advance(2)
    drawn.close()
    assert re.search(r"2/2 files, 0:0\d elapsed", tty.getvalue())

"""The asynq-migrate command line: diff, --write, exit codes, report, failures, jobs."""

from __future__ import annotations

import io
import json
import os
import sys

import pytest

from asynq.migrate import MigrateConfig, load_config
from asynq.migrate._config import ConfigError
from asynq.migrate._runner import Progress, run
from asynq.migrate.cli import main

MODELS = """\
from asynq import priming
from app.cache import mc


@mc.cached("f")
def f(x):
    return x + 1


prime_f = f.prime
"""

LOGIC = """\
from app.models import f, prime_f


def h(x):
    return f(x)


def prime_h(x):
    prime_f(x)
"""

STUCK = """\
from app.models import f, prime_f


def stuck(x):
    with lock:
        return f(x)


def prime_stuck(x):
    prime_f(x)
"""

PLAIN = "def untouched():\n    return 1\n"


def make_tree(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def tree(tmp_path):
    return make_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/cache.py": "mc = None\n",
            "app/models.py": MODELS,
            "app/logic.py": LOGIC,
            "app/plain.py": PLAIN,
        },
    )


def snapshot(root):
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_without_write_it_prints_a_diff_and_changes_nothing(tree, capsys):
    before = snapshot(tree)
    assert main([str(tree), "--jobs", "1"]) == 0
    out, err = capsys.readouterr()
    assert f"+++ b/{tree}/app/logic.py" in out
    assert "+@asynq()" in out and "-def prime_h(x):" in out
    assert "rerun with --write" in err
    assert snapshot(tree) == before


def test_no_diff_prints_only_the_summary(tree, capsys):
    assert main([str(tree), "--no-diff", "--jobs", "1"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "2 changed" in err


def test_write_rewrites_only_the_changed_files_and_a_second_run_changes_nothing(tree, capsys):
    before = snapshot(tree)
    assert main([str(tree), "--write", "--jobs", "1"]) == 0
    after = snapshot(tree)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"app/logic.py", "app/models.py"}
    assert "@asynq()" in (tree / "app/logic.py").read_text()
    assert not [p for p in tree.rglob("*.tmp")], "a temporary file was left behind"
    capsys.readouterr()
    assert main([str(tree), "--write", "--jobs", "1"]) == 0
    assert snapshot(tree) == after
    assert "0 changed" in capsys.readouterr().err


def test_exit_status_is_three_when_something_needs_review(tree, capsys):
    (tree / "app/stuck.py").write_text(STUCK)
    assert main([str(tree), "--jobs", "1"]) == 3
    err = capsys.readouterr().err
    assert "Needs review" in err
    assert "app/stuck.py:6: stuck: stuck reads f" in err


def test_a_file_that_does_not_parse_fails_without_stopping_the_others(tree, capsys):
    (tree / "app/broken.py").write_text("def broken(:\n    pass\n")
    assert main([str(tree), "--write", "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert "broken.py: " in err and "1 failed" in err
    assert (tree / "app/broken.py").read_text() == "def broken(:\n    pass\n"
    assert "@asynq()" in (tree / "app/logic.py").read_text()


def test_the_report_lists_files_conversions_refusals_notes_and_kept_twins(
    tree, tmp_path, capsys
):
    (tree / "app/stuck.py").write_text(STUCK)
    (tree / "app/views.py").write_text(
        "from app.logic import h, prime_h\n\n\ndef page(xs):\n"
        "    for x in xs:\n        prime_h(x)\n    return [h(x) for x in xs]\n"
    )
    report = tmp_path / "report.json"
    assert main([str(tree), "--report", str(report), "--jobs", "1"]) == 3
    data = json.loads(report.read_text())
    assert set(data) == {
        "version",
        "exit_code",
        "summary",
        "files",
        "converted",
        "refusals",
        "notes",
        "kept",
    }
    assert data["exit_code"] == 3
    assert data["summary"]["failed"] == 0 and data["summary"]["refusals"] == 1
    statuses = {os.path.basename(f["path"]): f["status"] for f in data["files"]}
    assert statuses == {
        "__init__.py": "unchanged",
        "cache.py": "unchanged",
        "models.py": "changed",
        "logic.py": "changed",
        "plain.py": "unchanged",
        "stuck.py": "unchanged",
        "views.py": "unchanged",  # legacy code keeps its priming (see "kept")
    }
    assert [(os.path.basename(c["file"]), c["function"]) for c in data["converted"]] == [
        ("logic.py", "h")
    ]
    (refusal,) = data["refusals"]
    assert set(refusal) == {"file", "line", "function", "reason"}
    assert refusal["line"] == 6 and refusal["function"] == "stuck"
    assert data["notes"] == []
    (kept,) = data["kept"]
    assert set(kept) == {"file", "line", "name", "reason"}
    assert os.path.basename(kept["file"]) == "logic.py" and kept["name"] == "prime_h"
    assert kept["reason"].startswith("prime_h is kept: page (in ")
    assert kept["reason"].endswith(
        "is not converted and still calls it, so the plain calls that follow keep batching. "
        "It goes once its callers are converted."
    )


def test_two_jobs_give_the_same_result_as_one(tree, tmp_path, capsys):
    for i in range(12):
        (tree / f"app/extra_{i}.py").write_text(LOGIC.replace("h(", f"h{i}("))
    (tree / "app/stuck.py").write_text(STUCK)
    assert main([str(tree), "--jobs", "1", "--report", str(tmp_path / "one.json")]) == 3
    one = capsys.readouterr().out
    assert main([str(tree), "--jobs", "2", "--report", str(tmp_path / "two.json")]) == 3
    two = capsys.readouterr().out
    assert one == two and one
    a = json.loads((tmp_path / "one.json").read_text())
    b = json.loads((tmp_path / "two.json").read_text())
    for data in (a, b):
        del data["summary"]["seconds"]
    assert a == b


def test_python_dash_m_runs_the_command(tree, run_cli):
    proc = run_cli(str(tree), "--jobs", "2", "--write")
    assert proc.returncode == 0, proc.stderr
    assert "2 changed" in proc.stderr
    assert "\r" not in proc.stderr, "no progress bar when stderr is not a terminal"
    assert "@asynq()" in (tree / "app/logic.py").read_text()


def test_a_rewrite_that_would_not_compile_is_a_failure_and_the_rest_stays_consistent(
    tree, monkeypatch
):
    (tree / "app/views.py").write_text(
        "from app.logic import h, prime_h\n\n\ndef page(x):\n    prime_h(x)\n    return h(x)\n"
    )
    from asynq.migrate import _runner

    real = _runner.transform_module

    def broken(path, module, plan, config, source=None):
        output = real(path, module, plan, config, source)
        if path.endswith("logic.py"):
            output.code += "def (:\n"
        return output

    monkeypatch.setattr(_runner, "transform_module", broken)
    result = run([str(tree)], MigrateConfig(), jobs=1, write=True)
    statuses = {os.path.basename(f.path): f.status for f in result.files}
    assert statuses["logic.py"] == "failed"
    failure = next(f for f in result.files if f.path.endswith("logic.py"))
    assert "would not compile" in (failure.error or "")
    assert (tree / "app/logic.py").read_text() == LOGIC
    # logic.py stays as it was, so the view must keep priming h through its twin.
    assert "prime_h(x)" in (tree / "app/views.py").read_text()
    assert "prime_f = f.prime" in (tree / "app/models.py").read_text()
    assert result.exit_code == 1


def test_a_skipped_file_is_not_rewritten_but_still_keeps_twins_it_uses(tree, capsys):
    (tree / "app/legacy_view.py").write_text(
        "# asynq-migrate: skip-file\nfrom app.logic import h, prime_h\n\n\n"
        "def page(x):\n    prime_h(x)\n    return h(x)\n"
    )
    assert main([str(tree), "--write", "--jobs", "1"]) == 0
    assert "1 skipped" in capsys.readouterr().err
    logic = (tree / "app/logic.py").read_text()
    assert "@asynq()" in logic and "def prime_h(x):" in logic
    assert "prime_h(x)" in (tree / "app/legacy_view.py").read_text()


def test_config_files_are_read_as_a_tool_table_or_as_plain_keys(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.asynq-migrate]\nprime-prefix = "warm_"\nexclude = ["gen_*"]\n')
    assert load_config(pyproject) == MigrateConfig(prime_prefix="warm_", exclude=("gen_*",))
    plain = tmp_path / "migrate.toml"
    plain.write_text('cached_decorator = "memoize"\ngenerator_decorator = "warming.gen"\n')
    assert load_config(plain) == MigrateConfig(
        cached_decorator="memoize", priming_module="warming", generator_decorator="gen"
    )
    assert load_config(None) == MigrateConfig()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("prime_prefix = 3\n", "must be a non-empty string"),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("prime_prefix = \n", "not valid TOML"),
    ],
)
def test_a_bad_config_file_is_a_usage_error_with_a_clear_message(
    tmp_path, tree, capsys, text, words
):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_config(config)
    assert main([str(tree), "--config", str(config)]) == 2
    assert words in capsys.readouterr().err


def test_reading_a_config_before_python_3_11_without_tomli_says_what_to_install(
    tmp_path, monkeypatch
):
    config = tmp_path / "migrate.toml"
    config.write_text('prime_prefix = "warm_"\n')
    monkeypatch.setattr(sys, "version_info", (3, 10, 13, "final", 0))
    monkeypatch.setitem(sys.modules, "tomli", None)  # makes `import tomli` fail
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value) == (
        "Reading --config on Python 3.10 needs the tomli package (the standard library reads "
        "TOML from 3.11 on): pip install tomli"
    )


def test_excluded_files_are_reported_as_skipped(tree, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('exclude = ["*/plain.py"]\n')
    assert main([str(tree), "--config", str(config), "--no-diff", "--jobs", "1"]) == 0
    assert "1 skipped" in capsys.readouterr().err


def test_the_progress_bar_draws_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    bar = Progress("migrate", 4, tty)
    for _ in range(4):
        bar.advance()
    bar.close()
    assert "[" + "#" * 30 + "] 4/4 files" in tty.getvalue()
    pipe = io.StringIO()
    quiet = Progress("migrate", 4, pipe)
    quiet.advance(4)
    quiet.close()
    assert pipe.getvalue() == ""


def test_a_missing_path_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "nope")])
    assert exc.value.code == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_an_internal_error_is_reported_and_nothing_is_written(tree, capsys, monkeypatch):
    from asynq.migrate import _runner

    class Broken(_runner.Program):
        def decide(self):
            raise ValueError("boom")

    monkeypatch.setattr(_runner, "Program", Broken)
    before = snapshot(tree)
    assert main([str(tree), "--write", "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert "internal error, nothing was written" in err and "ValueError: boom" in err
    assert snapshot(tree) == before

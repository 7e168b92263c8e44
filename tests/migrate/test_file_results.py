"""Each file's outcome is a typed result: changed, unchanged, failed or skipped."""

from __future__ import annotations

import json
import os

import pytest

from asynq.migrate import (
    FileChanged,
    FileFailed,
    FileResult,
    FileSkipped,
    FileUnchanged,
    MigrateConfig,
    run,
)
from asynq.migrate.cli import main

MODELS = """\
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


@pytest.fixture
def tree(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/cache.py": "mc = None\n",
        "app/models.py": MODELS,
        "app/logic.py": LOGIC,
        "app/broken.py": "def oops(:\n",
        "app/legacy.py": "# asynq-migrate: skip-file\n" + LOGIC.replace("h(", "g("),
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def outcomes(result):
    return {os.path.basename(f.path): f for f in result.files}


def test_every_file_gets_the_result_type_of_what_happened_to_it(tree):
    result = run([str(tree)], MigrateConfig(), jobs=1)
    files = outcomes(result)
    assert isinstance(files["logic.py"], FileChanged)
    assert isinstance(files["cache.py"], FileUnchanged)
    assert isinstance(files["broken.py"], FileFailed)
    assert isinstance(files["legacy.py"], FileSkipped)
    assert all(isinstance(f, FileResult) for f in result.files)
    assert result.count(FileChanged) == 1 and result.count(FileFailed) == 1
    assert result.count(FileResult) == len(result.files)


def test_a_changed_file_carries_its_new_code_and_diff_and_says_whether_it_was_written(tree):
    dry = outcomes(run([str(tree)], MigrateConfig(), jobs=1))["logic.py"]
    assert isinstance(dry, FileChanged)
    assert b"@asynq()" in dry.new_bytes and "+@asynq()" in dry.diff
    assert dry.written is False
    wet = outcomes(run([str(tree)], MigrateConfig(), jobs=1, write=True))["logic.py"]
    assert isinstance(wet, FileChanged) and wet.written is True
    assert (tree / "app/logic.py").read_bytes() == wet.new_bytes


def test_a_failed_file_says_why_and_a_skipped_file_says_what_skipped_it(tree):
    files = outcomes(run([str(tree)], MigrateConfig(), jobs=1))
    failed, skipped = files["broken.py"], files["legacy.py"]
    assert isinstance(failed, FileFailed) and isinstance(skipped, FileSkipped)
    assert failed.error.startswith("The file does not parse, so it was not migrated:")
    assert failed.detail == failed.error
    assert skipped.reason == "the file contains the marker `# asynq-migrate: skip-file`"
    assert skipped.detail == skipped.reason
    assert files["cache.py"].detail is None and files["logic.py"].detail is None


def test_a_file_that_cannot_be_written_becomes_a_failure_that_keeps_its_findings(
    tree, monkeypatch
):
    from asynq.migrate import _runner

    def refuse(path, data):
        raise PermissionError(13, "Permission denied")

    (tree / "app/stuck.py").write_text(
        "from app.models import f, prime_f\n\n\ndef stuck(x):\n    with lock:\n"
        "        return f(x)\n\n\ndef prime_stuck(x):\n    prime_f(x)\n"
    )
    (tree / "app/logic.py").write_text(
        LOGIC.replace("from app.models", "from app.stuck import stuck\nfrom app.models")
        + "\n\ndef loose(x):\n    with lock:\n        return stuck(x)\n\n\n"
        + "def prime_loose(x):\n    prime_f(x)\n"
    )
    before = (tree / "app/logic.py").read_text()
    dry = outcomes(run([str(tree)], MigrateConfig(), jobs=1))["logic.py"]
    assert isinstance(dry, FileChanged) and dry.refusals
    monkeypatch.setattr(_runner, "write_atomically", refuse)
    result = run([str(tree)], MigrateConfig(), jobs=1, write=True)
    logic = outcomes(result)["logic.py"]
    assert isinstance(logic, FileFailed)
    assert logic.error == "Could not write the file: [Errno 13] Permission denied."
    assert (logic.refusals, logic.notes, logic.kept) == (dry.refusals, dry.notes, dry.kept)
    assert result.exit_code == 1
    assert (tree / "app/logic.py").read_text() == before


def test_the_report_prints_each_result_type_as_its_status_word(tree, tmp_path, capsys):
    report = tmp_path / "report.json"
    assert main([str(tree), "--jobs", "1", "--report", str(report)]) == 1
    data = json.loads(report.read_text())
    by_name = {os.path.basename(f["path"]): f for f in data["files"]}
    assert by_name["logic.py"]["status"] == "changed" and by_name["logic.py"]["error"] is None
    assert by_name["cache.py"]["status"] == "unchanged"
    assert by_name["broken.py"]["status"] == "failed"
    assert by_name["broken.py"]["error"].startswith("The file does not parse")
    assert by_name["legacy.py"]["status"] == "skipped"
    assert by_name["legacy.py"]["error"] == (
        "the file contains the marker `# asynq-migrate: skip-file`"
    )
    assert {k: data["summary"][k] for k in ("changed", "failed", "skipped")} == {
        "changed": 1,
        "failed": 1,
        "skipped": 1,
    }
    err = capsys.readouterr().err
    assert "1 changed, 3 unchanged, 1 failed, 1 skipped" in err


def test_the_base_result_type_cannot_be_created_on_its_own():
    with pytest.raises(TypeError) as exc:
        FileResult("app/x.py")
    assert str(exc.value) == (
        "FileResult is the base of the per-file outcomes; create a FileChanged, "
        "FileUnchanged, FileFailed or FileSkipped instead."
    )

"""docs/testing.md is a specification: its Python examples must run.

A block whose first line is ``# name.py`` is a file of the example project: modules are
importable by the other examples, and ``test_*.py`` files are run by pytest with the plugin.
Every other block is executed, in order, in one namespace.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
FILE_NAME = re.compile(r"\A# (\w+)\.py\n")


def blocks() -> tuple[dict[str, str], list[str]]:
    files: dict[str, str] = {}
    snippets: list[str] = []
    for block in BLOCK.findall(PAGE.read_text(encoding="utf-8")):
        named = FILE_NAME.match(block)
        if named:
            files[named.group(1)] = block
        else:
            snippets.append(block)
    return files, snippets


@pytest.fixture
def example_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    files, _snippets = blocks()
    pytester.makepyfile(**files)
    pytester.syspathinsert()
    return pytester


def test_the_page_has_a_module_a_test_file_and_snippets() -> None:
    files, snippets = blocks()
    assert sorted(files) == ["models", "test_models", "test_users", "users"]
    assert len(snippets) == 10


def test_every_snippet_on_the_page_runs(example_project: pytest.Pytester) -> None:
    _files, snippets = blocks()
    namespace: dict[str, object] = {"__name__": "docs_testing"}
    for number, snippet in enumerate(snippets, 1):
        exec(compile(snippet, f"docs/testing.md (snippet {number})", "exec"), namespace)  # noqa: S102


@pytest.mark.parametrize("name, count", [("test_users", 2), ("test_models", 1)])
def test_the_example_test_files_pass_under_the_plugin(
    example_project: pytest.Pytester, name: str, count: int
) -> None:
    files, _snippets = blocks()
    expected = len(re.findall(r"^def test_", files[name], re.MULTILINE))
    result = example_project.runpytest("-p", "asynq.pytest_plugin", f"{name}.py")
    result.assert_outcomes(passed=expected)
    assert expected == count

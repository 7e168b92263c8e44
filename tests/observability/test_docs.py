"""docs/debugging.md is executed: every python block, in order, in one namespace."""

from __future__ import annotations

import os
import re

import pytest

from asynq import debug

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = os.path.join(ROOT, "docs", "debugging.md")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks() -> list[str]:
    with open(PAGE, encoding="utf-8") as f:
        return BLOCK.findall(f.read())


def test_every_python_example_on_the_debugging_page_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = blocks()
    assert len(found) == 11
    namespace: dict[str, object] = {"__name__": "docs_debugging"}
    try:
        for number, block in enumerate(found, 1):
            exec(compile(block, f"docs/debugging.md (example {number})", "exec"), namespace)
    finally:
        debug.options.COLLECT_PERF_STATS = False
    printed = capsys.readouterr().out
    assert "2 rounds, 2 batch flushes, 8 items" in printed
    assert "round 2: " in printed and "LoaderBatch[names_table] (5 items, 5 keys)" in printed


def test_the_page_embeds_the_trace_picture_that_the_script_draws() -> None:
    with open(PAGE, encoding="utf-8") as f:
        page = f.read()
    assert "](images/trace.svg)" in page
    with open(os.path.join(ROOT, "docs", "images", "trace.svg"), encoding="utf-8") as f:
        svg = f.read()
    assert svg.count('class="cluster"') == 2
    assert "get_upvoter_names(1)" in svg and "LoaderBatch[names_table]" in svg

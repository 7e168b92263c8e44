"""docs/loaders.md is executed: its Python blocks run in order, as one program."""

from __future__ import annotations

import re

from .conftest import ROOT

DOC = ROOT / "docs" / "loaders.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.M | re.S)


def test_the_loaders_page_runs_as_written() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "docs_loaders"}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{DOC.name} (python block {number})", "exec")
        exec(code, namespace)
    namespace["conn"].close()  # type: ignore[attr-defined]  # the page's SQLite connection

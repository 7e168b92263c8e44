"""docs/web.md is a specification: its Python examples run, in order, as one program."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parents[2] / "docs" / "web.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_python_example_on_the_page_runs(memcached: Any) -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 4
    namespace: dict[str, object] = {"__name__": "docs_web"}
    for number, block in enumerate(blocks, 1):
        code = block.replace("127.0.0.1:11211", memcached.address)
        exec(compile(code, f"docs/web.md (example {number})", "exec"), namespace)  # noqa: S102
    namespace["mc"].close()  # type: ignore[attr-defined]

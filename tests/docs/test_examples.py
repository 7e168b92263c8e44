"""The README and the concepts page are specifications: their Python examples must run."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = ["README.md", "docs/concepts.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(page: str) -> list[str]:
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return BLOCK.findall(f.read())


@pytest.mark.parametrize("page", PAGES)
def test_every_python_example_on_the_page_runs(page: str, memcached: Any) -> None:
    # Examples talk to "127.0.0.1:11211"; the test points them at its own server.
    blocks = [b.replace("127.0.0.1:11211", memcached.address) for b in python_blocks(page)]
    assert blocks, f"{page} has no python examples"
    namespace: dict[str, object] = {"__name__": f"docs_{os.path.basename(page)}"}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{page} (example {number})", "exec")
        exec(code, namespace)  # noqa: S102 - running our own documentation

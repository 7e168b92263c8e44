"""docs/asyncio.md is a specification: its Python examples run, in order, as one program."""

from __future__ import annotations

import os
import re

from asynq.memcache import MemcachedServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_python_example_of_the_asyncio_page_runs() -> None:
    with open(os.path.join(ROOT, "docs", "asyncio.md"), encoding="utf-8") as page:
        blocks = BLOCK.findall(page.read())
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "docs_asyncio"}
    try:
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"docs/asyncio.md (example {number})", "exec"), namespace)  # noqa: S102
    finally:
        server = namespace.get("server")
        if isinstance(server, MemcachedServer):
            server.stop()  # also when an example failed half way

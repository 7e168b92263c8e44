"""The memcache and priming pages are executable: their Python examples run on real servers."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from asynq import priming

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
DOC_ADDRESSES = ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"]


def python_blocks(page: str) -> list[str]:
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return BLOCK.findall(f.read())


@pytest.mark.parametrize("page", ["docs/memcache.md", "docs/priming.md"])
def test_every_python_example_on_the_page_runs(page: str, memcached_cluster: list[Any]) -> None:
    run_page(page, memcached_cluster)


@pytest.mark.parametrize("page", ["docs/memcache.md", "docs/priming.md"])
def test_the_page_runs_again_against_the_same_servers(
    page: str, memcached_cluster: list[Any]
) -> None:
    # A reader who runs the examples twice against their memcached must not meet the values
    # the first run left behind.
    run_page(page, memcached_cluster)
    run_page(page, memcached_cluster)


def run_page(page: str, memcached_cluster: list[Any]) -> None:
    blocks = python_blocks(page)
    assert blocks, f"{page} has no python examples"
    namespace: dict[str, object] = {"__name__": f"docs_{os.path.basename(page)}"}
    try:
        for number, block in enumerate(blocks, 1):
            for documented, server in zip(DOC_ADDRESSES, memcached_cluster, strict=True):
                block = block.replace(documented, server.address)
            exec(compile(block, f"{page} (example {number})", "exec"), namespace)  # noqa: S102
    finally:
        priming.end_request()
        for value in namespace.values():
            close = getattr(value, "close", None)
            if callable(close) and type(value).__name__ == "MemcacheClient":
                close()

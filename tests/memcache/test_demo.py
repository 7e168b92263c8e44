"""The demo runs end to end: every variant returns the same page, with the expected round trips."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from asynq import demo
from asynq.memcache import MemcacheClient


def test_the_variants_agree_and_batching_ones_cost_two_round_trips(memcached: Any) -> None:
    data = demo.make_data(answers=12, upvoters=5, users=40)
    mc = MemcacheClient(memcached.address)
    blog = demo.build_blog(mc, data)
    assert demo.seed_cache(blog) == 12 + 40
    results = {name: demo.measure(blog, name, repeat=1) for name in blog.variants}
    distinct = len({u for a in data.answers for u in data.upvoters[a]})
    assert {name: m.round_trips for name, m in results.items()} == {
        "naive": 12 + distinct,
        "priming": 2,
        "asynq": 2,
        "by hand": 2,
    }
    assert {m.keys for m in results.values()} == {12 + distinct}
    assert blog.db_reads == 0
    blog.close()


@pytest.mark.slow
def test_python_m_asynq_demo_prints_one_screen_and_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "asynq.demo", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 24
    assert "started memcached" in done.stdout
    table = {
        line.split()[0]: line.split() for line in lines if line.startswith(("asynq ", "priming "))
    }
    assert table["asynq"][1] == "2" and table["priming"][1] == "2"


def test_the_demo_says_when_it_uses_the_embedded_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "memcached_available", lambda: False)
    assert demo.main(["--answers", "5", "--upvoters", "3", "--users", "20", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "using the embedded in-process store" in out
    assert "vs by hand" in out


def test_the_demo_traces_one_asynq_page_on_request(
    memcached: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    out_dir = tmp_path / "trace"
    argv = ["--servers", memcached.address, "--answers", "6", "--upvoters", "3", "--users", "20"]
    assert demo.main([*argv, "--repeat", "1", "--trace", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == ["trace.dot", "trace.json", "trace.svg"]
    for name in written:
        assert f"trace written: {out_dir / name}" in printed
    events = json.loads((out_dir / "trace.json").read_text())["traceEvents"]
    flushes = [e for e in events if e.get("cat") == "batch" and e.get("ph") == "X"]
    assert len(flushes) == 2  # one multi-get per level of the page
    assert "2 rounds" in (out_dir / "trace.dot").read_text()

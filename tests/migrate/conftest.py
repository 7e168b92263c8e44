"""Shared helpers for the asynq-migrate tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from asynq.migrate import MigrateConfig, MigratedSources, migrate_sources  # noqa: E402


def dedent(source: str) -> str:
    """Dedent a triple-quoted source and drop its first newline."""
    return textwrap.dedent(source).lstrip("\n")


def migrate(sources: dict[str, str], config: MigrateConfig | None = None) -> MigratedSources:
    """Migrate dedented in-memory modules as one program."""
    return migrate_sources({p: dedent(s) for p, s in sources.items()}, config)


def codemod(
    before: str,
    after: str,
    *,
    path: str = "app/m.py",
    others: dict[str, str] | None = None,
    config: MigrateConfig | None = None,
) -> MigratedSources:
    """Migrate ``before`` (plus ``others``) and check the result equals ``after``.

    Also checks that the output compiles and that running the codemod again changes
    nothing. Returns the migration result (refusals, notes) for further checks.
    """
    sources = {path: dedent(before), **{p: dedent(s) for p, s in (others or {}).items()}}
    result = migrate_sources(sources, config)
    got = result.code[path]
    assert got == dedent(after), "\n--- got ---\n" + got
    for p, code in result.code.items():
        compile(code, p, "exec", dont_inherit=True)
    again = migrate_sources(result.code, config)
    assert again.code == result.code, "a second run changed the output"
    return result


@pytest.fixture
def assert_codemod() -> Callable[..., MigratedSources]:
    """The before/after helper (see :func:`codemod`)."""
    return codemod


@pytest.fixture(name="dedent")
def dedent_fixture() -> Callable[[str], str]:
    """:func:`dedent` for tests."""
    return dedent


@pytest.fixture(name="run_cli")
def run_cli_fixture() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`run_cli` for tests."""
    return run_cli


def run_cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m asynq.migrate`` in a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "asynq.migrate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class _Memcached:
    address: str
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plugin_installed() -> bool:
    """Whether asynq's pytest plugin (which provides ``memcached``) is registered."""
    from importlib.metadata import entry_points

    return any(ep.value == "asynq.pytest_plugin" for ep in entry_points(group="pytest11"))


def _own_memcached() -> Iterator[_Memcached]:
    """A memcached on 127.0.0.1 for this test only (stopped afterwards)."""
    binary = shutil.which("memcached") or "/usr/bin/memcached"
    port = _free_port()
    args = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args += ["-u", "root"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"memcached did not start on port {port}") from None
            time.sleep(0.05)
    try:
        yield _Memcached(f"127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if not _plugin_installed():
    # Without the installed package, asynq's own ``memcached`` fixture is not there.
    memcached = pytest.fixture(name="memcached")(_own_memcached)

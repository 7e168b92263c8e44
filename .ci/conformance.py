#!/usr/bin/env python3
"""Run asynq 1.6.0's own test suite, unmodified, against the asynq installed next to this Python.

The README promises that code written for asynq 1.6 runs unchanged. Our own tests encode our
reading of the API; this step checks the API against the tests its authors wrote. It:

1. downloads the ``asynq==1.6.0`` wheel from the package index with ``pip download --no-deps``
   (once: it is cached outside the repository, under ``~/.cache/asynq/conformance``) and checks
   its sha256;
2. extracts only ``asynq/tests/`` into a temporary package, byte for byte;
3. runs those tests with pytest and this interpreter, so ``import asynq`` is the asynq installed
   in this environment (ours, installed editable from this checkout).

The suite imports its helpers relatively and refers to itself as ``asynq.tests`` (``mock.patch``
targets such as ``"asynq.tests.test_mock.Cls.fn"``). Our package has no ``tests`` subpackage, so
a small ``conftest.py`` written next to the extracted package makes the name ``asynq.tests.X``
resolve to the very module objects pytest imported as ``<package>.X``. That is the only file the
step adds; no test file is changed.

Everything must pass, except what is listed in ``EXCLUDED`` (with the reason) and one retry for
the tests in ``TIMING_TOLERANT`` (they assert wall-clock durations within 5-10 ms, which a loaded
2-core CI machine can miss with any implementation, asynq 1.6.0's own included).

Usage: ``PYTHON .ci/conformance.py [-v]``; exit status 0 when the suite passes, 1 when a test
failed, 2 when the suite could not be fetched or run (for example, no access to the index).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

REFERENCE = "asynq==1.6.0"
# One fixed wheel for every interpreter: its tests are pure Python and the same in every wheel of
# the release, and not every Python we test on has a 1.6.0 wheel of its own.
WHEEL_TAGS = [
    "--platform", "manylinux2014_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
]  # fmt: skip
WHEEL_NAME = "asynq-1.6.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "10ecf43f0bb3f7c39bcdb560ce4e2bad9f08855ea1e718023a521921619fc524"

PACKAGE = "asynq16_tests"  # the temporary package the suite is extracted into

# Test files not run, and why. Everything else in the suite must pass in full.
EXCLUDED = {
    "test_pyright.py": (
        "runs the pyright CLI (a Node.js program) over a typing_example/ folder that the wheel "
        "does not ship; it cannot pass against any installed asynq, 1.6.0 included"
    ),
}

# Tests that assert wall-clock durations with 5-10 ms of tolerance: one retry each.
TIMING_TOLERANT = {
    "test_asynq_to_async.py::test_context",
    "test_tools.py::test_async_timer",
    "test_profiler.py::test_collect_perf_stats",
}

# A test that runs longer than this gets its stack dumped (pytest's faulthandler_timeout); the
# whole run is stopped after RUN_TIMEOUT, so a hang is an error, never a job that never ends.
STACK_DUMP_AFTER = 60
RUN_TIMEOUT = 300

CONFTEST = '''\
"""Written by asynq's .ci/conformance.py: makes ``asynq.tests.X`` name the module ``{pkg}.X``."""

import importlib
import importlib.abc
import importlib.util
import sys

_ALIAS = "asynq.tests"
_REAL = "{pkg}"


class _SameModule(importlib.abc.Loader):
    def __init__(self, real_name):
        self.real_name = real_name

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        # After exec_module the import system returns what sys.modules holds under the name.
        sys.modules[module.__name__] = importlib.import_module(self.real_name)


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == _ALIAS or fullname.startswith(_ALIAS + "."):
            real_name = _REAL + fullname[len(_ALIAS):]
            return importlib.util.spec_from_loader(fullname, _SameModule(real_name))
        return None


sys.meta_path.insert(0, _AliasFinder())
'''


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "asynq" / "conformance"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class CannotRun(Exception):
    """The suite could not be fetched or started: not a test failure."""


def fetch_wheel() -> Path:
    """The reference wheel, downloaded on first use and checked against its known digest."""
    cache = cache_dir()
    wheel = cache / WHEEL_NAME
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as download:
            command = [
                sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                "--disable-pip-version-check", "--quiet", "--dest", download, *WHEEL_TAGS,
                REFERENCE,
            ]  # fmt: skip
            print(f"conformance: downloading {REFERENCE} from the package index")
            done = subprocess.run(command, capture_output=True, text=True)
            fetched = Path(download) / WHEEL_NAME
            if done.returncode != 0 or not fetched.exists():
                detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise CannotRun(
                    f"could not download {REFERENCE} from the package index (pip exit status "
                    f"{done.returncode}). Is the index reachable from this machine? pip said:\n  "
                    + "\n  ".join(detail)
                )
            shutil.move(str(fetched), wheel)
    digest = sha256_of(wheel)
    if digest != WHEEL_SHA256:
        wheel.unlink()
        raise CannotRun(
            f"{wheel} has sha256 {digest}, expected {WHEEL_SHA256}; it was deleted, run again "
            "to download it afresh"
        )
    return wheel


def extract_suite(wheel: Path, root: Path) -> Path:
    """Copy ``asynq/tests/*`` from the wheel into ``root/PACKAGE``; add the aliasing conftest."""
    package = root / PACKAGE
    package.mkdir()
    prefix = "asynq/tests/"
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                target = package / name[len(prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    if not (package / "__init__.py").exists():
        raise CannotRun(f"{wheel.name} has no asynq/tests/ package")
    (root / "conftest.py").write_text(CONFTEST.format(pkg=PACKAGE))
    # An empty configuration file stops pytest from reading this repository's settings.
    (root / "pytest.ini").write_text("[pytest]\n")
    return package


def run_pytest(root: Path, targets: list[str], report: Path, extra: list[str]) -> None:
    command = [
        sys.executable, "-m", "pytest", "-c", "pytest.ini", "--rootdir", ".",
        "-p", "no:cacheprovider", "-o", f"faulthandler_timeout={STACK_DUMP_AFTER}",
        "-q", "--tb=short", "--continue-on-collection-errors", f"--junitxml={report}", *extra, *targets,
    ]  # fmt: skip
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    # Only pytest itself: what an asynq 1.6 user's environment has (not our pytest plugin).
    environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    environment.pop("PYTEST_ADDOPTS", None)
    try:
        subprocess.run(command, cwd=root, env=environment, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as timeout:
        raise CannotRun(f"the suite ran longer than {RUN_TIMEOUT} s and was stopped") from timeout


def outcomes(report: Path) -> dict[str, str]:
    """``file.py::test`` -> "passed", "failed" or "skipped", from pytest's JUnit XML report."""
    if not report.exists():
        raise CannotRun("pytest wrote no report: it did not start; see its output above")
    result: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "?")
        if classname:  # "<package>.<module>" or "<package>.<module>.<TestClass>"
            parts = classname.split(".")
            key = f"{parts[1]}.py::{'.'.join(parts[2:] + [name])}"
        else:  # a module that failed to import: name is "<package>.<module>"
            key = f"{name.split('.')[-1]}.py::(import)"
        if case.find("failure") is not None or case.find("error") is not None:
            result[key] = "failed"
        elif case.find("skipped") is not None:
            result.setdefault(key, "skipped")
        else:
            result.setdefault(key, "passed")
    return result


def main(argv: list[str]) -> int:
    import asynq  # the implementation under test: say which one it is

    print(
        f"conformance: {REFERENCE}'s tests against {asynq.__file__} on Python {sys.version.split()[0]}"
    )
    try:
        wheel = fetch_wheel()
        with tempfile.TemporaryDirectory(prefix="asynq-conformance-") as tmp:
            root = Path(tmp)
            package = extract_suite(wheel, root)
            ignored = [f"--ignore={PACKAGE}/{name}" for name in EXCLUDED]
            for name, reason in EXCLUDED.items():
                print(f"conformance: not run: {name}: {reason}")
            started = time.monotonic()
            run_pytest(root, [PACKAGE], root / "report.xml", ignored + argv)
            results = outcomes(root / "report.xml")
            failed = sorted(key for key, outcome in results.items() if outcome == "failed")
            retry = [key for key in failed if key in TIMING_TOLERANT]
            if retry:
                print(f"conformance: retrying once (wall-clock tolerances): {', '.join(retry)}")
                run_pytest(root, [f"{PACKAGE}/{key}" for key in retry], root / "retry.xml", argv)
                results.update(outcomes(root / "retry.xml"))
            seconds = time.monotonic() - started
            files = {p.name for p in package.glob("test_*.py")} - set(EXCLUDED)
    except CannotRun as error:
        print(f"conformance: cannot run the reference suite: {error}", file=sys.stderr)
        return 2
    failed = sorted(key for key, outcome in results.items() if outcome != "passed")
    passing_files = files - {key.split("::")[0] for key in failed}
    print(
        f"conformance: {len(results) - len(failed)} of {len(results)} tests passed, "
        f"{len(passing_files)} of {len(files)} files in full, in {seconds:.0f} s"
    )
    if failed:
        print("conformance: FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

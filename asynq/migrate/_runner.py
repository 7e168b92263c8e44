"""Running the codemod over many files: per-file results, parallelism, diffs, atomic writes.

The run has two passes over the files, each spread over worker processes:

1. *index*: parse each file and collect its :class:`~._facts.ModuleFacts`;
2. the parent builds the :class:`~._plan.Program` (resolution, conversion fixpoint,
   liveness of twins) and a :class:`~._plan.FilePlan` per file;
3. *transform*: each worker rewrites its files following their plans, checks that the
   output compiles, and returns the new code, the diff and the findings.

One file's failure never stops the run: every file gets a :class:`FileResult`.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import fnmatch
import multiprocessing
import os
import queue
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import IO, Any

import libcst as cst

from ._config import MigrateConfig
from ._facts import ModuleFacts, collect_module_facts
from ._plan import FilePlan, Program
from ._results import (
    FileChanged,
    FileFailed,
    FileResult,
    FileSkipped,
    FileUnchanged,
    Note,
    Refusal,
)
from ._transform import transform_module
from ._wrap import wrap_new_lines

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_REVIEW",
    "FileChanged",
    "FileFailed",
    "FileResult",
    "FileSkipped",
    "FileUnchanged",
    "Progress",
    "RunResult",
    "discover",
    "run",
    "write_atomically",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REVIEW = 3

SKIP_MARKER = "asynq-migrate: skip-file"
_SKIP_RE = re.compile(rb"#\s*asynq-migrate:\s*skip-file\b")
_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", ".tox"}


@dataclasses.dataclass
class RunResult:
    """The outcome of a whole run."""

    files: list[FileResult]
    converted: list[tuple[str, str]]
    seconds: float = 0.0
    #: the converted functions that had no twin (helpers read by converted functions)
    helpers: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def refusals(self) -> list[Refusal]:
        """Everything left untouched for review, in file and line order."""
        out = [r for f in self.files for r in f.refusals]
        return sorted(out, key=lambda r: (r.path, r.line, r.function))

    @property
    def notes(self) -> list[Note]:
        """Informational findings, in file and line order."""
        out = [n for f in self.files for n in f.notes]
        return sorted(out, key=lambda n: (n.path, n.line))

    @property
    def kept(self) -> list[Refusal]:
        """Priming twins and aliases of converted functions that stay, with the reason."""
        out = [k for f in self.files for k in f.kept]
        return sorted(out, key=lambda k: (k.path, k.line, k.function))

    def count(self, kind: type[FileResult]) -> int:
        """How many files ended with an outcome of type ``kind`` (e.g. :class:`FileFailed`)."""
        return sum(1 for f in self.files if isinstance(f, kind))

    @property
    def exit_code(self) -> int:
        """0: all converted; 1: something failed; 3: something needs review."""
        if self.count(FileFailed):
            return EXIT_FAILED
        if self.refusals:
            return EXIT_REVIEW
        return EXIT_OK

    def report(self) -> dict[str, object]:
        """The JSON document written by ``--report``."""
        helpers = set(self.helpers)
        return {
            "version": 1,
            "exit_code": self.exit_code,
            "summary": {
                "files": len(self.files),
                "changed": self.count(FileChanged),
                "unchanged": self.count(FileUnchanged),
                "failed": self.count(FileFailed),
                "skipped": self.count(FileSkipped),
                "converted_functions": len(self.converted),
                "refusals": len(self.refusals),
                "notes": len(self.notes),
                "kept": len(self.kept),
                "seconds": round(self.seconds, 3),
            },
            "files": [
                {
                    "path": f.path,
                    "status": f.status,
                    "written": isinstance(f, FileChanged) and f.written,
                    "error": f.detail,
                }
                for f in self.files
            ],
            "converted": [
                {"file": p, "function": n, "helper": (p, n) in helpers} for p, n in self.converted
            ],
            "refusals": [r.as_dict() for r in self.refusals],
            "notes": [n.as_dict() for n in self.notes],
            "kept": [
                {"file": k.path, "line": k.line, "name": k.function, "reason": k.reason}
                for k in self.kept
            ],
        }


class Progress:
    """A one-line progress bar on a terminal, with the time elapsed and an estimate of the
    time left (does nothing when ``stream`` is not a tty)."""

    def __init__(self, label: str, total: int, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)()) and total > 0
        self.label = label
        self.total = total
        self.done = 0
        self._start = time.monotonic()
        self._last = -1.0
        self._width = 0

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items as done and redraw (at most ~20 times a second)."""
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if self.done < self.total and now - self._last < 0.05:
            return
        self._last = now
        line = self.render(now - self._start)
        self._width = max(self._width, len(line))
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()

    def render(self, elapsed: float) -> str:
        """The bar after ``elapsed`` seconds: ``label [####....] done/total files, 0:03
        elapsed, about 0:07 left``."""
        width = 30
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "." * (width - filled)
        line = f"{self.label:<9} [{bar}] {self.done}/{self.total} files, {_clock(elapsed)} elapsed"
        if 0 < self.done < self.total:
            left = elapsed * (self.total - self.done) / self.done
            line += f", about {_clock(left)} left"
        return line

    def close(self) -> None:
        """Erase the bar."""
        if self.enabled:
            self.stream.write("\r" + " " * max(self._width, 70) + "\r")
            self.stream.flush()


def _clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour)."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def discover(paths: Sequence[str]) -> list[str]:
    """All ``.py`` files under ``paths`` (files are taken as given), sorted, without repeats."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(
                    d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info")
                )
                found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".py"))
        else:
            found.append(path)
    seen: set[str] = set()
    out = []
    for path in found:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def _excluded(path: str, config: MigrateConfig) -> bool:
    name = os.path.basename(path)
    normalized = path.replace(os.sep, "/")
    return any(
        fnmatch.fnmatch(normalized, pat) or fnmatch.fnmatch(name, pat) for pat in config.exclude
    )


# -- pass 1: index ------------------------------------------------------------------------


@dataclasses.dataclass
class _Indexed:
    path: str
    facts: ModuleFacts | None
    error: str | None
    skipped: str | None


#: What a worker keeps of a file between the two passes: the tree and its text.
_Parsed = tuple[cst.Module, "str | None"]


def parse_error(source: bytes, path: str) -> str | None:
    """Why ``source`` does not parse, in one line (None if it parses)."""
    try:
        cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        try:
            compile(source, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        except SyntaxError as error:
            where = f"line {error.lineno}, column {error.offset}"
            return f"The file does not parse, so it was not migrated: {error.msg} ({where})."
        except ValueError:  # null bytes
            pass
        first = str(exc.message).splitlines()[0] if exc.message else "syntax error"
        return (
            "The file does not parse, so it was not migrated: "
            f"{first} (line {exc.raw_line}, column {exc.raw_column + 1})."
        )
    return None


def _index_one(
    path: str, config: MigrateConfig, cache: dict[str, _Parsed] | None = None
) -> _Indexed:
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        return _Indexed(path, None, f"Could not read the file: {exc}.", None)
    skipped = None
    if _excluded(path, config):
        skipped = "excluded by the configuration's `exclude` patterns"
    elif _SKIP_RE.search(source):
        skipped = f"the file contains the marker `# {SKIP_MARKER}`"
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return _Indexed(path, None, parse_error(source, path), None)
    except Exception:  # noqa: BLE001 - one file's failure must not stop the run
        return _Indexed(path, None, traceback.format_exc(), None)
    try:
        facts = collect_module_facts(path, module, config)
    except Exception:  # noqa: BLE001
        return _Indexed(path, None, traceback.format_exc(), None)
    if cache is not None and skipped is None:
        try:
            text: str | None = source.decode(module.encoding)
        except (UnicodeDecodeError, LookupError):
            text = None
        cache[path] = (module, text)
    return _Indexed(path, facts, None, skipped)


# -- pass 2: transform --------------------------------------------------------------------


def file_diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _transform_one(
    path: str,
    plan: FilePlan,
    config: MigrateConfig,
    want_diff: bool,
    parsed: _Parsed | None = None,
) -> FileResult:
    try:
        if parsed is None:
            with open(path, "rb") as f:
                source = f.read()
            module = cst.parse_module(source)
            try:
                text: str | None = source.decode(module.encoding)
            except (UnicodeDecodeError, LookupError):
                text = None
        else:
            module, text = parsed
        output = transform_module(path, module, plan, config, text)
    except Exception:  # noqa: BLE001 - one file's failure must not stop the run
        return FileFailed(path, refusals=plan.refusals, error=traceback.format_exc())
    old_code = text if text is not None else module.code
    new_code = wrap_new_lines(output.code, old_code, config.line_length, module.default_indent)
    if new_code == old_code:
        return FileUnchanged(path, output.refusals, output.notes, output.kept)
    try:
        compile(new_code, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return FileFailed(
            path,
            error=(
                f"The rewritten file would not compile ({exc.msg}, line {exc.lineno}), so it "
                "was left unchanged. Please report this as a bug in asynq-migrate."
            ),
            refusals=output.refusals,
            notes=output.notes,
            kept=output.kept,
        )
    new_bytes = new_code.encode(module.encoding)
    return FileChanged(
        path,
        diff=file_diff(path, old_code, new_code) if want_diff else "",
        new_bytes=new_bytes,
        refusals=output.refusals,
        notes=output.notes,
        kept=output.kept,
    )


# -- writing ------------------------------------------------------------------------------


def write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that readers see the old or the new file, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".asynq-migrate-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- orchestration ------------------------------------------------------------------------
#
# Each worker owns a fixed share of the files for the whole run: it parses and indexes
# them, sends the facts to the parent, waits for the plans (made from the whole-program
# index) and rewrites the same trees it parsed, so every file is parsed once.


class _Backend:
    """Runs the two passes over the files, in this process (``jobs == 1``)."""

    def __init__(self, config: MigrateConfig, want_diff: bool) -> None:
        self.config = config
        self.want_diff = want_diff
        self.cache: dict[str, _Parsed] = {}

    def index(self, files: list[str], progress: Progress) -> list[_Indexed]:
        out = []
        for path in files:
            out.append(_index_one(path, self.config, self.cache))
            progress.advance()
        return out

    def transform(self, todo: list[tuple[str, FilePlan]], progress: Progress) -> list[FileResult]:
        out = []
        for path, plan in todo:
            out.append(
                _transform_one(path, plan, self.config, self.want_diff, self.cache.get(path))
            )
            progress.advance()
        return out

    def close(self) -> None:
        self.cache.clear()


_WORKER: dict[str, Any] = {}


def _worker_init(results: Any, plans: list[Any]) -> None:
    _WORKER["results"] = results
    _WORKER["plans"] = plans


def _worker_share(share: int, files: list[str], config: MigrateConfig, want_diff: bool) -> None:
    """The whole life of one worker: index its files, then rewrite them plan after plan."""
    results = _WORKER["results"]
    plans = _WORKER["plans"][share]
    try:
        cache: dict[str, _Parsed] = {}
        for path in files:
            results.put(("indexed", _index_one(path, config, cache)))
        while True:
            todo = plans.get()
            if todo is None:
                return
            for path, plan in todo:
                results.put(
                    ("result", _transform_one(path, plan, config, want_diff, cache.get(path)))
                )
    except BaseException:
        results.put(("crashed", traceback.format_exc()))
        raise


class _PoolBackend(_Backend):
    """Runs the two passes in ``jobs`` worker processes (``ProcessPoolExecutor``)."""

    def __init__(self, config: MigrateConfig, want_diff: bool, jobs: int) -> None:
        super().__init__(config, want_diff)
        self.jobs = jobs
        context = multiprocessing.get_context()
        self.results: Any = context.Queue()
        self.plans: list[Any] = [context.Queue() for _ in range(jobs)]
        self.executor = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=context,
            initializer=_worker_init,
            initargs=(self.results, self.plans),
        )
        self.futures: list[Future[None]] = []
        self.owner: dict[str, int] = {}

    def _receive(self, kind: str, count: int, progress: Progress) -> list[Any]:
        out: list[Any] = []
        while len(out) < count:
            try:
                message = self.results.get(timeout=0.5)
            except queue.Empty:
                for future in self.futures:
                    if future.done() and future.exception() is not None:
                        raise RuntimeError("an asynq-migrate worker died") from future.exception()
                continue
            if message[0] == "crashed":
                raise RuntimeError(f"an asynq-migrate worker crashed:\n{message[1]}")
            assert message[0] == kind
            out.append(message[1])
            progress.advance()
        return out

    def index(self, files: list[str], progress: Progress) -> list[_Indexed]:
        shares: list[list[str]] = [[] for _ in range(self.jobs)]
        loads = [0] * self.jobs
        # Balance by size: biggest files first, each to the least loaded worker.
        for path in sorted(files, key=_size, reverse=True):
            share = loads.index(min(loads))
            shares[share].append(path)
            loads[share] += _size(path) + 1
            self.owner[path] = share
        self.futures = [
            self.executor.submit(_worker_share, i, share, self.config, self.want_diff)
            for i, share in enumerate(shares)
        ]
        by_path = {i.path: i for i in self._receive("indexed", len(files), progress)}
        return [by_path[p] for p in files]

    def transform(self, todo: list[tuple[str, FilePlan]], progress: Progress) -> list[FileResult]:
        shares: list[list[tuple[str, FilePlan]]] = [[] for _ in range(self.jobs)]
        for path, plan in todo:
            shares[self.owner[path]].append((path, plan))
        for share, items in enumerate(shares):
            self.plans[share].put(items)
        return self._receive("result", len(todo), progress)

    def close(self) -> None:
        for plans in self.plans:
            plans.put(None)
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.results.close()
        for plans in self.plans:
            plans.close()


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def run(
    paths: Iterable[str],
    config: MigrateConfig,
    *,
    jobs: int = 1,
    write: bool = False,
    want_diff: bool = True,
    progress_stream: IO[str] | None = None,
) -> RunResult:
    """Migrate every Python file under ``paths``; write changed files only if ``write``."""
    start = time.monotonic()
    files = discover(list(paths))
    jobs = max(1, min(jobs, len(files)))
    backend = _PoolBackend(config, want_diff, jobs) if jobs > 1 else _Backend(config, want_diff)
    try:
        progress = Progress("analyse", len(files), progress_stream)
        indexed = backend.index(files, progress)
        progress.close()
        facts = [i.facts for i in indexed if i.facts is not None]
        frozen = {i.path for i in indexed if i.skipped is not None}
        results: dict[str, FileResult] = {}
        for item in indexed:
            if item.facts is None:
                results[item.path] = FileFailed(item.path, error=item.error or "")
            elif item.skipped is not None:
                results[item.path] = FileSkipped(item.path, reason=item.skipped)
        # A file whose rewrite fails stays as it is; the others were planned assuming it
        # would change, so plan again with it frozen (rare; a few rounds at most).
        failed_rewrites: dict[str, FileResult] = {}
        while True:
            program = Program(facts, config, frozen | set(failed_rewrites))
            program.decide()
            round_results: dict[str, FileResult] = {}
            todo: list[tuple[str, FilePlan]] = []
            for item in indexed:
                if item.path in results or item.path in failed_rewrites:
                    continue
                plan = program.plan(item.path)
                if plan.has_work or plan.refusals or plan.kept:
                    todo.append((item.path, plan))
                else:
                    round_results[item.path] = FileUnchanged(item.path)
            progress = Progress("migrate", len(todo), progress_stream)
            for result in backend.transform(todo, progress):
                round_results[result.path] = result
            progress.close()
            new_failures = {p: r for p, r in round_results.items() if isinstance(r, FileFailed)}
            if not new_failures:
                break
            failed_rewrites.update(new_failures)
        results.update(round_results)
        results.update(failed_rewrites)
    finally:
        backend.close()

    ordered = [results[p] for p in files]
    if write:
        for i, result in enumerate(ordered):
            if isinstance(result, FileChanged):
                try:
                    write_atomically(result.path, result.new_bytes)
                    result.written = True
                except OSError as exc:
                    ordered[i] = FileFailed(
                        result.path,
                        result.refusals,
                        result.notes,
                        result.kept,
                        error=f"Could not write the file: {exc}.",
                    )
    converted = sorted([*program.converted, *program.converted_methods])
    return RunResult(ordered, converted, time.monotonic() - start, sorted(program.helpers | program.helper_properties))

"""Debugging helpers: asynq stacks, tracebacks without the scheduler's frames, exception hooks.

Inside a task, Python's own stack shows the scheduler's loop, not who asked for what. The *asynq
stack* (``format_asynq_stack``, ``dump_asynq_stack``) is the chain of tasks from the outermost
one to the running one, following which task created which, each at the line it is suspended at.

An error raised in an asynq function travels up through the tasks that waited on it; its
traceback then holds the asynq call chain plus the frames of asynq's own machinery (the
scheduler loop, ``f(x)``'s wrapper, ``future.value()``). ``format_error`` and ``extract_tb``
drop those machinery frames (never the frame that raised), so a traceback reads: synchronous
caller, then each asynq function down to the raising line. Importing asynq installs
``async_exception_hook`` as ``sys.excepthook`` (as asynq 1.6 does); it prints uncaught errors
that way and leaves any traceback without asynq frames to the previous hook.
"""

from __future__ import annotations

import importlib
import linecache
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, GeneratorType, TracebackType
from typing import Any

from ._debug import options
from .async_task import AsyncTask
from .batching import sync
from .lowlevel import task_generator
from .scheduler import get_active_task

__all__ = [
    "options",
    "stdout",
    "stderr",
    "sync",
    "format_asynq_stack",
    "dump_asynq_stack",
    "dump_stack",
    "format_error",
    "dump_error",
    "filter_traceback",
    "extract_tb",
    "format_tb",
    "get_frame",
    "AsynqStackTracebackFormatter",
    "async_exception_hook",
    "attach_exception_hook",
    "detach_exception_hook",
    "ipython_custom_exception_handler",
    "enable_filter_traceback",
    "enable_original_exc_handler",
    "enable_traceback_syntax_highlight",
    "syntax_highlight_tb",
    "enable_complex_assertions",
    "disable_complex_assertions",
    "str",
    "repr",
    "write",
    "dump",
]

_builtin_repr = repr
_builtin_str = str
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: Modules whose frames are the machinery between an asynq function and its caller.
MACHINERY_MODULES = (
    "scheduler.py",
    "futures.py",
    "decorators.py",
    "async_task.py",
    "batching.py",
    "loaders.py",
    "tools.py",
    "generator.py",
    "asyncio_interop.py",
    "tracing.py",
    "profiler.py",
)
_MACHINERY = frozenset(os.path.join(_PACKAGE_DIR, name) for name in MACHINERY_MODULES)
_filter_enabled = True
_use_original_hook = False
_highlight = True
_original_hook: Any = None
_abspaths: dict[_builtin_str, _builtin_str] = {}


class _CurrentStream:
    """Writes to whatever ``sys.<name>`` is at the time of the write (so that output capture,
    and tests that patch ``asynq.debug.stdout``/``stderr``, both work)."""

    def __init__(self, name: _builtin_str) -> None:
        self._name = name

    def write(self, text: _builtin_str) -> int:
        written: int = getattr(sys, self._name).write(text)
        return written

    def __getattr__(self, attribute: _builtin_str) -> Any:
        return getattr(getattr(sys, self._name), attribute)

    def __repr__(self) -> _builtin_str:
        return f"<asynq.debug.{self._name}: the current sys.{self._name}>"


#: Where the debug helpers print: the current ``sys.stdout`` / ``sys.stderr`` unless replaced.
stdout: Any = _CurrentStream("stdout")
stderr: Any = _CurrentStream("stderr")


# -- asynq stacks --------------------------------------------------------------------------------------


def _task_frame(task: AsyncTask[Any]) -> FrameType | None:
    """Where ``task`` is: its generator's frame, or, for a running plain function, its frame on
    the Python stack."""
    frame: FrameType | None = getattr(task_generator(task), "gi_frame", None)
    if frame is not None:
        return frame
    code = getattr(task.fn, "__code__", None)
    if code is None or not task.running:
        return None
    current: FrameType | None = sys._getframe(1)
    while current is not None:
        if current.f_code is code:
            return current
        current = current.f_back
    return None


def _entry(filename: _builtin_str, lineno: int, name: _builtin_str) -> _builtin_str:
    line = linecache.getline(filename, lineno).strip()
    entry = f'File "{filename}", line {lineno}, in {name}'
    return entry + f"\n    {line}" if line else entry


def format_asynq_stack() -> list[_builtin_str] | None:
    """The asynq stack of the running task, outermost task first, one traceback-style entry per
    task (``File "...", line N, in fn`` and the source line); None outside any task."""
    task = get_active_task()
    if task is None:
        return None
    entries = []
    seen = set()
    while task is not None and id(task) not in seen:
        seen.add(id(task))
        frame = _task_frame(task)
        if frame is not None:
            code = frame.f_code
            entries.append(_entry(code.co_filename, frame.f_lineno, code.co_name))
        else:
            entries.append(f"{task!r} (no frame: not running a generator)")
        task = task.creator
    entries.reverse()
    return entries


def dump_asynq_stack() -> None:
    """Print the asynq stack of the running task (or say that no task is running)."""
    entries = format_asynq_stack()
    if entries is None:
        print("asynq stack: no asynq task is running")
        return
    print("asynq stack (most recent call last):")
    for entry in entries:
        print("  " + entry)


def dump_stack(skip: int = 0, limit: int | None = None) -> None:
    """Print the Python stack of the caller without asynq's machinery frames."""
    stack = traceback.extract_stack(sys._getframe(1 + skip), limit)
    print("--- Stack trace: " + "-" * 53)
    print("".join(traceback.format_list(_filter_frames(list(stack)))), end="")
    print("-" * 70)


def get_frame(generator: GeneratorType[Any, Any, Any]) -> FrameType | None:
    """The frame a generator is suspended in (None once it finished)."""
    return generator.gi_frame


# -- tracebacks ----------------------------------------------------------------------------------------


def _is_machinery_file(filename: _builtin_str) -> bool:
    path = _abspaths.get(filename)
    if path is None:
        path = _abspaths[filename] = os.path.abspath(filename)
    return path in _MACHINERY


def _filter_frames(frames: list[traceback.FrameSummary]) -> list[traceback.FrameSummary]:
    """``frames`` without machinery frames; the last one (where it was raised) always stays."""
    if not _filter_enabled or not frames:
        return frames
    kept = [f for f in frames[:-1] if not _is_machinery_file(f.filename)]
    kept.append(frames[-1])
    return kept


def _has_machinery(tb: TracebackType | None) -> bool:
    while tb is not None:
        if _is_machinery_file(tb.tb_frame.f_code.co_filename):
            return True
        tb = tb.tb_next
    return False


def _frame_line(path: _builtin_str, function: _builtin_str) -> re.Pattern[_builtin_str]:
    return re.compile(rf'  File ".*{re.escape(path)}", line \d+, in {re.escape(function)}\n?')


_SOURCE_LINE = re.compile(r"    .*\n?")

#: Runs of lines that asynq 1.6's compiled machinery leaves in formatted tracebacks, each replaced
#: as a whole (a partial run stays as it is) by one marker line.
_COLLAPSED_RUNS: list[tuple[_builtin_str, list[re.Pattern[_builtin_str]]]] = [
    (
        "___asynq_future_raise_if_error___",
        [
            _frame_line("asynq/decorators.py", "asynq.decorators.AsyncDecorator.__call__"),
            _frame_line("asynq/futures.py", "asynq.futures.FutureBase.value"),
            _frame_line("asynq/futures.py", "asynq.futures.FutureBase.value"),
            _frame_line("asynq/futures.py", "asynq.futures.FutureBase.raise_if_error"),
            _frame_line("qcore/errors.py", "reraise"),
            _SOURCE_LINE,
            _frame_line("six.py", "reraise"),
            _SOURCE_LINE,
        ],
    ),
    (
        "___asynq_continue___",
        [
            _frame_line("asynq/async_task.py", "asynq.async_task.AsyncTask._continue"),
            _frame_line("asynq/async_task.py", "asynq.async_task.AsyncTask._continue_on_generator"),
            _frame_line("asynq/async_task.py", "asynq.async_task.AsyncTask._continue_on_generator"),
        ],
    ),
    (
        "___asynq_call_pure___",
        [
            _frame_line("asynq/decorators.py", "asynq.decorators.AsyncDecorator.asynq"),
            _frame_line("asynq/decorators.py", "asynq.decorators.AsyncProxyDecorator._call_pure"),
            _frame_line("asynq/decorators.py", "asynq.decorators.AsyncProxyDecorator._call_pure"),
            _frame_line("asynq/decorators.py", "asynq.decorators.AsyncProxyDecorator._call_pure"),
            _frame_line("asynq/decorators.py", "asynq.decorators.async_call"),
        ],
    ),
]


def filter_traceback(tb_list: list[_builtin_str]) -> list[_builtin_str]:
    """A formatted traceback (lines or entries, as ``traceback.format_tb`` gives them) without
    asynq's machinery: entries of this package's scheduler, decorators and futures are dropped,
    and the runs of frames asynq 1.6's machinery leaves become one marker line each
    (``___asynq_continue___`` and the like)."""
    if not _filter_enabled:
        return tb_list
    kept: list[_builtin_str] = []
    i = 0
    while i < len(tb_list):
        for marker, run in _COLLAPSED_RUNS:
            lines = tb_list[i : i + len(run)]
            if len(lines) == len(run) and all(
                p.fullmatch(ln) for p, ln in zip(run, lines, strict=True)
            ):
                kept.append(f"  {marker}\n")
                i += len(run)
                break
        else:
            if not _is_machinery_entry(tb_list[i]):
                kept.append(tb_list[i])
            i += 1
    return kept


def _is_machinery_entry(entry: _builtin_str) -> bool:
    return any(f'File "{path}"' in entry for path in _MACHINERY)


def extract_tb(
    tb: TracebackType, limit: int | None = None
) -> list[tuple[_builtin_str, int, _builtin_str, _builtin_str]]:
    """Like ``traceback.extract_tb``, as ``(file, line number, function, source)`` tuples,
    without asynq's machinery frames."""
    frames = _filter_frames(list(traceback.extract_tb(tb, limit)))
    return [(f.filename, f.lineno or 0, f.name, f.line or "") for f in frames]


def format_tb(tb: TracebackType) -> list[_builtin_str]:
    """Format a traceback as asynq sees it, the chain of user and asynq functions: a list of
    entries, like ``traceback.format_tb``."""
    return traceback.format_list(extract_tb(tb))


def _filter_exception(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list(_filter_frames(list(te.stack)))
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _filter_exception(linked, seen)
    for group_member in getattr(te, "exceptions", None) or ():
        _filter_exception(group_member, seen)


def format_error(
    error: BaseException | None, tb: TracebackType | None = None
) -> _builtin_str | None:
    """``error`` with its traceback as the asynq call chain: the synchronous caller, each asynq
    function down to the raising line, and no scheduler frames (chained errors too). The
    traceback is ``tb``, else the error's own, else one stored as ``error._traceback`` (as
    asynq 1.6 code does). None for no error."""
    if error is None:
        return None
    if tb is None:
        tb = error.__traceback__ or getattr(error, "_traceback", None)
    te = traceback.TracebackException(type(error), error, tb)
    _filter_exception(te, set())
    return "".join(te.format())


def dump_error(error: BaseException | None, tb: TracebackType | None = None) -> None:
    """Print ``format_error(error, tb)`` to ``stderr`` (highlighted when it is a terminal)."""
    text = format_error(error, tb=tb)
    if text is None:
        stderr.write("\nNo error")
        return
    if _highlight and stderr.isatty():
        text = syntax_highlight_tb(text)
    stderr.write(text)


class AsynqStackTracebackFormatter(logging.Formatter):
    """A logging formatter whose ``logger.exception(...)`` tracebacks skip asynq's machinery."""

    def formatException(self, ei: Any) -> _builtin_str:  # noqa: N802 - logging's name
        """The exception of ``ei`` (an ``exc_info`` tuple) as ``format_error`` shows it."""
        error = ei[1]
        if error is None:
            return super().formatException(ei)
        text = format_error(error, tb=ei[2])
        return "" if text is None else text.rstrip("\n")


# -- exception hooks -----------------------------------------------------------------------------------


def async_exception_hook(
    type: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    """A ``sys.excepthook`` that prints asynq-aware tracebacks. Tracebacks without asynq frames
    (and all of them after ``enable_original_exc_handler(True)``) go to the previous hook."""
    original = _original_hook or sys.__excepthook__
    if _use_original_hook or not _has_machinery(tb):
        original(type, error, tb)
        return
    dump_error(error, tb)


def attach_exception_hook() -> None:
    """Install ``async_exception_hook`` as ``sys.excepthook`` (undo with the detach function)."""
    global _original_hook
    if sys.excepthook is not async_exception_hook:
        _original_hook = sys.excepthook
        sys.excepthook = async_exception_hook


def detach_exception_hook() -> None:
    """Restore the ``sys.excepthook`` that ``attach_exception_hook`` replaced."""
    global _original_hook
    if sys.excepthook is async_exception_hook:
        sys.excepthook = _original_hook or sys.__excepthook__
        _original_hook = None


def ipython_custom_exception_handler(
    self: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: TracebackType,
    tb_offset: Any = None,
) -> None:
    """For IPython's ``set_custom_exc((Exception,), ...)``: print asynq-aware tracebacks."""
    dump_error(value, tb)


def enable_filter_traceback(enable: bool) -> None:
    """Turn hiding of asynq's machinery frames on or off."""
    global _filter_enabled
    _filter_enabled = enable


def enable_original_exc_handler(enable: bool) -> None:
    """Make ``async_exception_hook`` hand every error to the previous hook (True) or print
    asynq tracebacks itself (False, the default), e.g. to keep a notebook's own display."""
    global _use_original_hook
    _use_original_hook = enable


def enable_traceback_syntax_highlight(enable: bool) -> None:
    """Highlight the tracebacks printed to a terminal (needs ``pygments``; on by default)."""
    global _highlight
    _highlight = enable


def syntax_highlight_tb(tb_text: _builtin_str) -> _builtin_str:
    """``tb_text`` with terminal colours, if ``pygments`` is installed; else unchanged."""
    try:  # an optional dependency, imported by name so that type checkers need no stubs
        pygments = importlib.import_module("pygments")
        formatters = importlib.import_module("pygments.formatters")
        lexers = importlib.import_module("pygments.lexers")
    except ImportError:
        return tb_text
    text: _builtin_str = pygments.highlight(
        tb_text, lexers.PythonTracebackLexer(), formatters.TerminalFormatter()
    )
    return text


# -- asynq 1.6 odds and ends ---------------------------------------------------------------------------


@contextmanager
def enable_complex_assertions(enable: bool = True) -> Iterator[None]:
    """Set ``options.ENABLE_COMPLEX_ASSERTIONS`` inside the block (kept for compatibility:
    this implementation has no assertions that depend on it)."""
    saved = options.ENABLE_COMPLEX_ASSERTIONS
    options.ENABLE_COMPLEX_ASSERTIONS = enable
    try:
        yield
    finally:
        options.ENABLE_COMPLEX_ASSERTIONS = saved


def disable_complex_assertions() -> Any:
    """``enable_complex_assertions(False)``."""
    return enable_complex_assertions(False)


def str(source: object, truncate: bool = True) -> _builtin_str:  # noqa: A001 - asynq 1.6 name
    """``str(source)``, cut to ``options.DEBUG_STR_REPR_MAX_LENGTH`` if ``truncate``."""
    return _cut(_builtin_str(source), truncate)


def repr(source: object, truncate: bool = True) -> _builtin_str:  # noqa: A001 - asynq 1.6 name
    """``repr(source)``, cut to ``options.DEBUG_STR_REPR_MAX_LENGTH`` if ``truncate``."""
    return _cut(_builtin_repr(source), truncate)


def _cut(text: _builtin_str, truncate: bool) -> _builtin_str:
    limit = options.DEBUG_STR_REPR_MAX_LENGTH
    if truncate and len(text) > limit:
        return text[: limit - 3] + "..."
    return text


def write(text: _builtin_str, indent: int = 0) -> None:
    """Print ``text`` to ``stdout``, each of its lines indented by ``indent`` levels of two
    spaces (a leading newline is printed as is, before the indented lines)."""
    pad = "  " * indent
    if text.startswith("\n"):
        stdout.write("\n")
        text = text[1:]
    stdout.write(pad + text.replace("\n", "\n" + pad) + "\n")


def dump(state: Any) -> None:
    """Print an object's ``dump()`` if it has one, else its repr."""
    if hasattr(state, "dump"):
        state.dump()
    else:
        write(repr(state))


attach_exception_hook()

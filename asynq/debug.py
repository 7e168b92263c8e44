"""Debugging helpers: asynq stacks, readable tracebacks, an exception hook, debug switches.

Python's own stack inside a task shows the scheduler's loop, not who asked for what. The *asynq
stack* is the chain of tasks from the running one through the tasks that created it, each with the
line it is suspended at.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from ._debug import options
from .batching import sync
from .scheduler import get_active_task

__all__ = [
    "options",
    "sync",
    "format_asynq_stack",
    "dump_asynq_stack",
    "format_error",
    "dump_error",
    "filter_traceback",
    "extract_tb",
    "format_tb",
    "async_exception_hook",
    "attach_exception_hook",
    "detach_exception_hook",
    "enable_filter_traceback",
    "enable_complex_assertions",
    "str",
    "repr",
    "write",
    "dump",
]

_builtin_repr = repr
_builtin_str = str
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Modules whose frames are the machinery between an asynq function and its caller.
_MACHINERY = {
    os.path.join(_PACKAGE_DIR, name)
    for name in ("scheduler.py", "futures.py", "decorators.py", "async_task.py", "batching.py")
}
_filter_enabled = True
_original_hook = None


def format_asynq_stack() -> list[_builtin_str] | None:
    """The asynq stack of the running task, innermost first; None outside any task."""
    task = get_active_task()
    if task is None:
        return None
    lines = []
    seen = set()
    while task is not None and id(task) not in seen:
        seen.add(id(task))
        lines.append(f"{task!r}\n")
        lines.extend(f"  {line}\n" for line in task.traceback())
        task = task.creator
    return lines


def dump_asynq_stack() -> None:
    """Print the asynq stack of the running task (or a note that no task runs)."""
    lines = format_asynq_stack()
    if lines is None:
        print("asynq stack: no asynq task is running", file=sys.stderr)
        return
    print("asynq stack (innermost first):", file=sys.stderr)
    sys.stderr.write("".join(lines))


def filter_traceback(tb_list: list[_builtin_str]) -> list[_builtin_str]:
    """Drop the entries of a formatted traceback that are asynq's own machinery."""
    if not _filter_enabled:
        return tb_list
    return [entry for entry in tb_list if not _is_machinery(entry)]


def _is_machinery(entry: _builtin_str) -> bool:
    return any(f'File "{path}"' in entry for path in _MACHINERY)


def extract_tb(
    tb: TracebackType, limit: int | None = None
) -> list[tuple[_builtin_str, int, _builtin_str, _builtin_str]]:
    """Like ``traceback.extract_tb``, without asynq's machinery frames."""
    frames = [
        (f.filename, f.lineno or 0, f.name, f.line or "")
        for f in traceback.extract_tb(tb, limit)
        if not (_filter_enabled and os.path.abspath(f.filename) in _MACHINERY)
    ]
    return frames


def format_tb(tb: TracebackType) -> _builtin_str:
    """Format a traceback as asynq sees it: the chain of user and asynq functions."""
    return "".join(filter_traceback(traceback.format_tb(tb)))


def format_error(error: BaseException, tb: TracebackType | None = None) -> _builtin_str:
    """The error with a traceback that reads as the asynq call chain, scheduler frames hidden."""
    if tb is None:
        tb = error.__traceback__
    parts = traceback.format_exception(type(error), error, tb)
    return "".join(filter_traceback(parts))


def dump_error(error: BaseException, tb: TracebackType | None = None) -> None:
    """Print ``format_error(error, tb)`` to stderr."""
    sys.stderr.write(format_error(error, tb))


def async_exception_hook(
    type: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    """A ``sys.excepthook`` that prints asynq-aware tracebacks."""
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


def enable_filter_traceback(enable: bool) -> None:
    """Turn hiding of asynq's machinery frames on or off."""
    global _filter_enabled
    _filter_enabled = enable


@contextmanager
def enable_complex_assertions(enable: bool = True) -> Iterator[None]:
    """Kept for compatibility: asynq has no assertions that this switch would enable."""
    yield


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
    """Write a debug line to stderr."""
    sys.stderr.write(" " * indent + text + "\n")


def dump(state: Any) -> None:
    """Print an object's ``dump()`` if it has one, else its repr."""
    if hasattr(state, "dump"):
        state.dump()
    else:
        write(repr(state))

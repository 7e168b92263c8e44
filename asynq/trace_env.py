"""The ``ASYNQ_TRACE`` switch: trace a whole program without changing it.

When the environment variable ``ASYNQ_TRACE`` names a directory, importing asynq starts a trace of
the importing thread (``asynq.tracing``) and registers an ``atexit`` handler that stops it and
writes the files there (``trace.json``, ``trace.dot`` and, with Graphviz, ``trace.svg``). Kept
apart from the recorder, so that importing ``asynq.tracing`` never registers anything.
"""

from __future__ import annotations

import atexit
import os

from .trace_export import write_trace_files
from .tracing import TRACE_ENV, Trace, trace

__all__ = ["start_from_environment", "environment_trace"]

_env_trace: Trace | None = None


def environment_trace() -> Trace | None:
    """The trace that ``ASYNQ_TRACE`` started, or None."""
    return _env_trace


def start_from_environment() -> Trace | None:
    """Start the ``ASYNQ_TRACE`` trace on the calling thread if the variable is set and it has
    not started yet (``import asynq`` calls this); returns it, or None."""
    global _env_trace
    out_dir = os.environ.get(TRACE_ENV)
    if not out_dir or _env_trace is not None:
        return _env_trace
    recording = _env_trace = trace().start()

    def write() -> None:
        if recording.active:
            recording.stop()
            write_trace_files(recording, out_dir)

    atexit.register(write)
    return recording

"""asynq.debug's output: where it prints, how it indents, and what filter_traceback collapses."""

from __future__ import annotations

import io
import logging
import sys
from typing import Any

from asynq import debug
from asynq import mock_ as mock


def test_dump_error_of_no_error_says_so_on_the_debug_stderr() -> None:
    buffer = io.StringIO()
    with mock.patch("asynq.debug.stderr", buffer):
        debug.dump_error(None)
    assert buffer.getvalue() == "\nNo error"


def test_the_debug_streams_follow_the_current_sys_streams(capsys: Any) -> None:
    debug.stdout.write("to stdout\n")
    debug.stderr.write("to stderr\n")
    assert capsys.readouterr() == ("to stdout\n", "to stderr\n")


def test_write_indents_every_line_by_two_spaces_per_level() -> None:
    buffer = io.StringIO()
    with mock.patch("asynq.debug.stdout", buffer):
        debug.write("", indent=1)
        debug.write("\n", indent=1)
        debug.write("a\nb", indent=3)
    assert buffer.getvalue() == "  \n\n  \n      a\n      b\n"


def test_format_error_of_none_is_none() -> None:
    assert debug.format_error(None) is None


def test_format_error_uses_a_traceback_stored_on_the_error() -> None:
    def fail() -> None:
        raise KeyError("stored")

    try:
        fail()
    except KeyError:
        stored = sys.exc_info()[2]
    error = ValueError("never raised")
    assert debug.format_error(error) == "ValueError: never raised\n"
    error._traceback = stored  # type: ignore[attr-defined]
    text = debug.format_error(error)
    assert text is not None and text.startswith("Traceback (most recent call last):\n")
    assert 'raise KeyError("stored")' in text


def test_the_logging_formatter_passes_the_traceback_by_keyword() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(debug.AsynqStackTracebackFormatter())
    logger = logging.getLogger("tests.debug_output")
    logger.addHandler(handler)
    try:
        with mock.patch("asynq.debug.format_error", return_value="formatted") as format_error:
            try:
                raise RuntimeError("logged")
            except RuntimeError as error:
                logger.exception("it failed")
                format_error.assert_called_once_with(error, tb=error.__traceback__)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "it failed\nformatted\n"


def frame(path: str, line: int, function: str) -> str:
    return f'  File "{path}", line {line}, in {function}\n'


LEGACY_CONTINUE = [
    frame("/srv/asynq/async_task.py", 10, "asynq.async_task.AsyncTask._continue"),
    frame("/srv/asynq/async_task.py", 20, "asynq.async_task.AsyncTask._continue_on_generator"),
    frame("/srv/asynq/async_task.py", 30, "asynq.async_task.AsyncTask._continue_on_generator"),
]
USER = [frame("app/views.py", 7, "render"), "    page = load(uid)\n"]


def test_a_whole_run_of_legacy_machinery_frames_becomes_one_marker_line() -> None:
    assert debug.filter_traceback(USER + LEGACY_CONTINUE + USER) == [
        *USER,
        "  ___asynq_continue___\n",
        *USER,
    ]


def test_part_of_a_run_is_left_as_it_is() -> None:
    partial = LEGACY_CONTINUE[:2] + USER
    assert debug.filter_traceback(partial) == partial


def test_with_filtering_off_nothing_is_collapsed() -> None:
    debug.enable_filter_traceback(False)
    try:
        assert debug.filter_traceback(LEGACY_CONTINUE) == LEGACY_CONTINUE
    finally:
        debug.enable_filter_traceback(True)

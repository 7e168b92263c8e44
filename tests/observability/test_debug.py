"""asynq.debug: tracebacks that read as the asynq call chain, asynq stacks, exception hooks."""

from __future__ import annotations

import inspect
import logging
import os
import sys
import traceback
from types import TracebackType
from typing import Any

import pytest

from asynq import asynq, debug

from .helpers import LoggedItem, Store

HERE = os.path.basename(__file__)


@asynq()
def inner(x: int) -> Any:
    if x:
        raise ValueError(f"bad {x}")
    return x
    yield  # a generator: runs as a task


@asynq()
def middle(x: int) -> Any:
    value = yield inner.asynq(x)
    return value


@asynq()
def outer(x: int) -> Any:
    values = yield [middle.asynq(0), middle.asynq(x)]
    return values


@asynq()
def plain_fails(x: int) -> Any:
    raise KeyError(x)


@asynq()
def calls_plain() -> Any:
    value = yield plain_fails.asynq(1)
    return value


@asynq()
def calls_synchronously(x: int) -> Any:
    if False:
        yield
    return middle(x)


@asynq()
def wraps_error() -> Any:
    try:
        yield inner.asynq(5)
    except ValueError as error:
        raise RuntimeError("could not render") from error


def caught(fn: Any) -> BaseException:
    try:
        fn()
    except BaseException as error:  # noqa: BLE001 - the test inspects it
        return error
    raise AssertionError("expected an error")


def frames(error: BaseException) -> list[tuple[str, str]]:
    assert error.__traceback__ is not None
    return [(os.path.basename(f), name) for f, _, name, _ in debug.extract_tb(error.__traceback__)]


# -- which frames a traceback shows -------------------------------------------------------------------


def test_a_synchronous_call_shows_the_caller_then_each_asynq_function_down_to_the_raise() -> None:
    error = caught(lambda: outer(3))
    assert frames(error) == [
        (HERE, "caught"),
        (HERE, "<lambda>"),
        (HERE, "outer"),
        (HERE, "middle"),
        (HERE, "inner"),
    ]


def test_value_on_a_task_shows_the_same_chain() -> None:
    error = caught(lambda: outer.asynq(3).value())
    assert [name for _, name in frames(error)][2:] == ["outer", "middle", "inner"]


def test_the_hidden_frames_are_the_machinery_between_caller_and_task() -> None:
    error = caught(lambda: outer(3))
    assert error.__traceback__ is not None
    everything = [
        (os.path.basename(f.filename), f.name) for f in traceback.extract_tb(error.__traceback__)
    ]
    assert ("decorators.py", "__call__") in everything
    debug.enable_filter_traceback(False)
    try:
        assert ("decorators.py", "__call__") in frames(error)
    finally:
        debug.enable_filter_traceback(True)
    assert ("decorators.py", "__call__") not in frames(error)


def test_a_failing_plain_function_task_shows_its_caller_task_and_its_own_frame() -> None:
    error = caught(calls_plain)
    assert [name for _, name in frames(error)][1:] == ["calls_plain", "plain_fails"]


def test_a_synchronous_call_inside_a_task_shows_both_asynq_chains() -> None:
    error = caught(lambda: calls_synchronously(4))
    assert [name for _, name in frames(error)][2:] == ["calls_synchronously", "middle", "inner"]


def test_a_failed_batch_flush_shows_the_task_that_waited_and_the_raising_flush() -> None:
    store = Store("kv", [])
    store.fail_with = ConnectionError("down")

    @asynq()
    def reader(key: str) -> Any:
        value = yield store.get(key)
        return value

    error = caught(lambda: reader("k"))
    assert isinstance(error, ConnectionError)
    assert frames(error)[2:] == [(HERE, "reader"), ("helpers.py", "_flush")]


def test_a_failing_loader_shows_the_waiting_task_then_the_batch_function() -> None:
    from asynq.loaders import loader

    @loader(cache=False)
    def broken(keys: list[int]) -> list[int]:
        raise ConnectionError("db down")

    @asynq()
    def reader(key: int) -> Any:
        value = yield broken.asynq(key)
        return value

    error = caught(lambda: reader(1))
    assert frames(error)[2:] == [(HERE, "reader"), (HERE, "broken")]


def test_the_raising_frame_is_kept_even_inside_asynq() -> None:
    store = Store("kv", [])

    @asynq()
    def adds_too_late() -> Any:
        item = store.get(1)
        yield item
        LoggedItem(item.batch, 2)

    error = caught(adds_too_late)
    assert frames(error)[1:] == [
        (HERE, "adds_too_late"),
        ("helpers.py", "__init__"),
        ("batching.py", "__init__"),
    ]


def test_format_error_hides_machinery_in_chained_errors_too() -> None:
    error = caught(wraps_error)
    text = debug.format_error(error)
    assert "decorators.py" not in text and "scheduler.py" not in text
    assert "The above exception was the direct cause of the following exception:" in text
    assert text.startswith("Traceback (most recent call last):\n")
    assert text.endswith("RuntimeError: could not render\n")
    functions = [line.split(", in ")[1] for line in text.splitlines() if ", in " in line]
    assert functions == ["wraps_error", "inner", "caught", "wraps_error"]


def test_format_error_reads_the_chain_with_source_lines() -> None:
    error = caught(lambda: outer(3))
    lines = debug.format_error(error).splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: bad 3"
    sources = [line.strip() for line in lines if line.startswith("    ") and "^" not in line]
    assert sources == [
        "fn()",
        "error = caught(lambda: outer(3))",
        "values = yield [middle.asynq(0), middle.asynq(x)]",
        "value = yield inner.asynq(x)",
        'raise ValueError(f"bad {x}")',
    ]


def test_format_tb_and_filter_traceback_drop_the_machinery_entries() -> None:
    error = caught(lambda: outer(3))
    assert error.__traceback__ is not None
    formatted = debug.format_tb(error.__traceback__)
    assert formatted == traceback.format_list(debug.extract_tb(error.__traceback__))  # type: ignore[arg-type]
    assert all("decorators.py" not in entry for entry in formatted)
    entries = traceback.format_tb(error.__traceback__)
    kept = debug.filter_traceback(entries)
    assert len(entries) - len(kept) == 1
    assert all("decorators.py" not in entry for entry in kept)


# -- asynq stacks -------------------------------------------------------------------------------------


def line_of(fn: Any, text: str) -> int:
    source, first = inspect.getsourcelines(fn)
    for offset, line in enumerate(source):
        if text in line:
            return first + offset
    raise AssertionError(f"{text!r} not in {fn}")


stacks: list[Any] = []


@asynq()
def stack_leaf() -> Any:
    stacks.append(debug.format_asynq_stack())
    return 1
    yield


@asynq()
def stack_plain_leaf() -> Any:
    stacks.append(debug.format_asynq_stack())
    return 2


@asynq()
def stack_middle() -> Any:
    value = yield stack_leaf.asynq()
    return value


@asynq()
def stack_root() -> Any:
    values = yield [stack_middle.asynq(), stack_plain_leaf.asynq()]
    return values


def test_the_asynq_stack_lists_each_task_outermost_first_at_its_line() -> None:
    stacks.clear()
    stack_root()
    leaf_stack, plain_stack = stacks
    file = __file__
    root_line = line_of(stack_root, "values = yield")
    middle_line = line_of(stack_middle, "value = yield")
    assert leaf_stack == [
        f'File "{file}", line {root_line}, in stack_root\n'
        "    values = yield [stack_middle.asynq(), stack_plain_leaf.asynq()]",
        f'File "{file}", line {middle_line}, in stack_middle\n    value = yield stack_leaf.asynq()',
        f'File "{file}", line {line_of(stack_leaf, "stacks.append")}, in stack_leaf\n'
        "    stacks.append(debug.format_asynq_stack())",
    ]
    assert plain_stack == [
        leaf_stack[0],
        f'File "{file}", line {line_of(stack_plain_leaf, "stacks.append")}, in stack_plain_leaf\n'
        "    stacks.append(debug.format_asynq_stack())",
    ]


def test_outside_any_task_there_is_no_asynq_stack(capsys: Any) -> None:
    assert debug.format_asynq_stack() is None
    debug.dump_asynq_stack()
    assert capsys.readouterr().out == "asynq stack: no asynq task is running\n"


def test_dump_asynq_stack_prints_the_stack_like_a_traceback(capsys: Any) -> None:
    @asynq()
    def dumps() -> Any:
        debug.dump_asynq_stack()
        return None
        yield

    @asynq()
    def caller() -> Any:
        yield dumps.asynq()

    caller()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "asynq stack (most recent call last):"
    assert [line.split(", in ")[1] for line in out if ", in " in line] == ["caller", "dumps"]
    assert out[-1] == "    debug.dump_asynq_stack()"


def test_dump_stack_prints_the_python_stack_without_scheduler_frames(capsys: Any) -> None:
    @asynq()
    def dumps() -> Any:
        debug.dump_stack()
        return None
        yield

    dumps()
    out = capsys.readouterr().out
    assert "scheduler.py" not in out and "decorators.py" not in out
    assert "in dumps\n    debug.dump_stack()" in out
    assert out.startswith("--- Stack trace: ")


def test_get_frame_is_the_frame_a_generator_is_suspended_in() -> None:
    def gen() -> Any:
        yield 1

    g = gen()
    next(g)
    frame = debug.get_frame(g)
    assert frame is not None and frame.f_code is gen.__code__
    g.close()
    assert debug.get_frame(g) is None


# -- hooks and odds and ends --------------------------------------------------------------------------


def test_importing_asynq_installs_the_exception_hook() -> None:
    assert sys.excepthook is debug.async_exception_hook


def exc_info(fn: Any) -> tuple[type[BaseException], BaseException, TracebackType]:
    error = caught(fn)
    assert error.__traceback__ is not None
    return type(error), error, error.__traceback__


def test_the_hook_prints_asynq_errors_without_machinery(capsys: Any) -> None:
    info = exc_info(lambda: outer(3))
    debug.async_exception_hook(*info)
    err = capsys.readouterr().err
    assert err == debug.format_error(info[1])
    assert "decorators.py" not in err


def test_the_hook_hands_other_errors_to_the_previous_hook(monkeypatch: Any) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(debug, "_original_hook", lambda *args: seen.append(args))
    info = exc_info(lambda: {}["missing"])
    debug.async_exception_hook(*info)
    assert seen == [info]


def test_the_original_handler_switch_hands_every_error_to_the_previous_hook(
    monkeypatch: Any,
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(debug, "_original_hook", lambda *args: seen.append(args))
    info = exc_info(lambda: outer(3))
    debug.enable_original_exc_handler(True)
    try:
        debug.async_exception_hook(*info)
    finally:
        debug.enable_original_exc_handler(False)
    assert seen == [info]


def test_detach_restores_the_previous_hook_and_attach_installs_it_again() -> None:
    previous = debug._original_hook
    debug.detach_exception_hook()
    try:
        assert sys.excepthook is previous
    finally:
        debug.attach_exception_hook()
    assert sys.excepthook is debug.async_exception_hook
    assert debug._original_hook is previous


def test_the_logging_formatter_shows_asynq_tracebacks() -> None:
    formatter = debug.AsynqStackTracebackFormatter("%(message)s")
    info = exc_info(lambda: outer(3))
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "render failed", None, info)
    text = formatter.format(record)
    assert text.startswith("render failed\nTraceback (most recent call last):")
    assert text.endswith("ValueError: bad 3")
    assert "decorators.py" not in text


def test_syntax_highlighting_colours_a_traceback() -> None:
    text = debug.format_error(caught(lambda: outer(3)))
    coloured = debug.syntax_highlight_tb(text)
    assert "\x1b[" in coloured
    assert "\x1b[" not in text


def test_str_and_repr_are_cut_to_the_configured_length() -> None:
    debug.options.DEBUG_STR_REPR_MAX_LENGTH = 10
    assert debug.str("abcdefghijklmnop") == "abcdefg..."
    assert debug.repr("abcdefghijklmnop") == "'abcdef..."
    assert debug.str("abcdefghijklmnop", truncate=False) == "abcdefghijklmnop"


def test_complex_assertions_switch_is_scoped() -> None:
    with debug.disable_complex_assertions():
        assert debug.options.ENABLE_COMPLEX_ASSERTIONS is False
    assert debug.options.ENABLE_COMPLEX_ASSERTIONS is True


def test_write_and_dump_print_debug_lines(capsys: Any) -> None:
    debug.write("hello", indent=1)
    debug.write("two\nlines", indent=2)
    debug.write("\nafter a blank line", indent=1)
    debug.dump(42)
    assert capsys.readouterr().out == ("  hello\n    two\n    lines\n\n  after a blank line\n42\n")


@pytest.mark.parametrize("name", debug.__all__)
def test_every_public_name_exists(name: str) -> None:
    assert hasattr(debug, name)

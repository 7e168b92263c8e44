"""Command line of ``asynq-migrate``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import IO

from .. import __version__
from ._config import ConfigError, MigrateConfig, find_project_config, load_config
from ._results import FileChanged, FileFailed, FileSkipped, FileUnchanged
from ._runner import EXIT_FAILED, EXIT_OK, EXIT_REVIEW, RunResult, file_diff, parse_error, run

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``asynq-migrate``."""
    parser = argparse.ArgumentParser(
        prog="asynq-migrate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Rewrite legacy priming code (prime_* twins, @priming.generator) into asynq\n"
            "code (@asynq() functions that yield their reads). Without --write it only\n"
            "prints a unified diff; a second run changes nothing."
        ),
        epilog=(
            "Settings (naming conventions, excluded files, line length) are read from the\n"
            "[tool.asynq-migrate] table of the nearest pyproject.toml, found from the given\n"
            "paths upwards as ruff and black find theirs, unless --config names a file.\n"
            "\n"
            "Exit status: 0 everything primed was converted, 1 a file failed (it is left\n"
            "unchanged), 2 bad usage or configuration, 3 something was left for review."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help=(
            "files or directories to analyse and rewrite (give the root of the codebase: the "
            "analysis must see every caller); - reads one module from standard input and "
            "writes the result to standard output"
        ),
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="write the changed files in place (each one atomically); without it nothing is "
        "written",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="number of worker processes that parse and rewrite files (default: the number "
        "of CPUs)",
    )
    parser.add_argument(
        "--diff",
        dest="diff",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print a unified diff of the changes on standard output (default: on without "
        "--write, off with it)",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="also write a JSON report to FILE: files, converted functions, what was left "
        "for review and why, notes, and the priming functions kept",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read the settings from this TOML file instead of the nearest pyproject.toml",
    )
    parser.add_argument(
        "--stdin-filename",
        metavar="PATH",
        default="<stdin>",
        help="with -, the path of the module read from standard input (used to name it in "
        "messages and to resolve its relative imports)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"asynq-migrate {__version__}",
        help="print the version and exit",
    )
    return parser


def _error_line(text: str | None) -> str:
    """The line that explains a failure: the message itself, or the last line of a
    traceback (the exception)."""
    if not text:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def print_summary(result: RunResult, write: bool, stream: IO[str]) -> None:
    """The human summary printed at the end of a run."""
    failed = [f for f in result.files if isinstance(f, FileFailed)]
    refusals = result.refusals
    notes = result.notes
    if failed:
        stream.write("\nFailed (files left unchanged):\n")
        for f in failed:
            stream.write(f"  {f.path}: {_error_line(f.error)}\n")
    if refusals:
        stream.write("\nNeeds review (left untouched):\n")
        for r in refusals:
            stream.write(f"  {r.path}:{r.line}: {r.function}: {r.reason}\n")
    if result.kept:
        stream.write("\nKept (priming twins of converted functions still in use):\n")
        for k in result.kept:
            stream.write(f"  {k.path}:{k.line}: {k.reason}\n")
    if notes:
        stream.write("\nNotes:\n")
        for n in notes:
            stream.write(f"  {n.path}:{n.line}: {n.function}: {n.message}\n")
    changed = result.count(FileChanged)
    stream.write(
        f"\nasynq-migrate: {len(result.files)} files: {changed} changed, "
        f"{result.count(FileUnchanged)} unchanged, {len(failed)} failed, "
        f"{result.count(FileSkipped)} skipped; {len(result.converted)} functions converted, "
        f"{len({(r.path, r.function) for r in refusals})} left for review "
        f"({result.seconds:.1f}s).\n"
    )
    if changed and not write:
        stream.write("Nothing was written; rerun with --write to apply the changes.\n")


def _config_for(args: argparse.Namespace, paths: list[str]) -> MigrateConfig:
    if args.config is not None:
        return load_config(args.config)
    return load_config(find_project_config(paths))


def _run_stdin(args: argparse.Namespace, config: MigrateConfig) -> int:
    """``asynq-migrate -``: one module from standard input, the result on standard output."""
    from . import migrate_sources

    source = sys.stdin.read()
    path = args.stdin_filename
    error = parse_error(source.encode("utf-8"), path)
    if error is not None:
        sys.stderr.write(f"asynq-migrate: {path}: {error}\n")
        sys.stdout.write(source)
        return EXIT_FAILED
    result = migrate_sources({path: source}, config)
    new = result.code[path]
    if args.diff:
        sys.stdout.write(file_diff(path, source, new))
    else:
        sys.stdout.write(new)
    for r in result.refusals:
        sys.stderr.write(f"{path}:{r.line}: {r.function}: {r.reason}\n")
    return EXIT_REVIEW if result.refusals else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``asynq-migrate``; returns the exit status (0 ok, 1 failure, 3 needs review)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if "-" in args.paths:
        if args.paths != ["-"]:
            parser.error("- (standard input) cannot be combined with other paths")
        if args.write:
            parser.error("--write cannot be used with - (the result goes to standard output)")
        try:
            config = _config_for(args, [os.getcwd()])
        except ConfigError as exc:
            sys.stderr.write(f"asynq-migrate: {exc}\n")
            return EXIT_USAGE
        return _run_stdin(args, config)
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        parser.error(f"no such file or directory: {', '.join(missing)}")
    try:
        config = _config_for(args, args.paths)
    except ConfigError as exc:
        sys.stderr.write(f"asynq-migrate: {exc}\n")
        return EXIT_USAGE
    want_diff = args.diff if args.diff is not None else not args.write
    try:
        result = run(
            args.paths,
            config,
            jobs=args.jobs,
            write=args.write,
            want_diff=want_diff,
            progress_stream=sys.stderr,
        )
    except Exception:  # noqa: BLE001 - report, do not dump a bare traceback
        sys.stderr.write(
            "asynq-migrate: internal error, nothing was written. Please report it with this "
            f"traceback:\n{traceback.format_exc()}"
        )
        return EXIT_FAILED
    if want_diff:
        for f in result.files:
            if isinstance(f, FileChanged) and f.diff:
                sys.stdout.write(f.diff)
        sys.stdout.flush()
    print_summary(result, args.write, sys.stderr)
    if args.report:
        try:
            with open(args.report, "w", encoding="utf-8") as out:
                json.dump(result.report(), out, indent=2)
                out.write("\n")
        except OSError as exc:
            sys.stderr.write(f"asynq-migrate: could not write the report: {exc}\n")
            return EXIT_FAILED
    return result.exit_code

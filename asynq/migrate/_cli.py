"""Command line of ``asynq-migrate``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import IO

from ._config import ConfigError, load_config
from ._runner import EXIT_FAILED, RunResult, run

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``asynq-migrate``."""
    parser = argparse.ArgumentParser(
        prog="asynq-migrate",
        description=(
            "Rewrite legacy priming code (prime_* twins, @priming.generator) into asynq code. "
            "Without --write it only prints a unified diff."
        ),
        epilog=(
            "Exit status: 0 everything was converted, 1 a file failed, "
            "3 something was left for review."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("--write", action="store_true", help="write the changed files (atomically)")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: number of CPUs)",
    )
    parser.add_argument(
        "--diff",
        dest="diff",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print a unified diff of the changes (default: on without --write, off with it)",
    )
    parser.add_argument("--report", metavar="FILE", help="write a JSON report to FILE")
    parser.add_argument("--config", metavar="FILE", help="TOML file with naming conventions")
    return parser


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def print_summary(result: RunResult, write: bool, stream: IO[str]) -> None:
    """The human summary printed at the end of a run."""
    failed = [f for f in result.files if f.status == "failed"]
    refusals = result.refusals
    notes = result.notes
    if failed:
        stream.write("\nFailed (files left unchanged):\n")
        for f in failed:
            stream.write(f"  {f.path}: {_first_line(f.error)}\n")
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
    changed = result.count("changed")
    stream.write(
        f"\nasynq-migrate: {len(result.files)} files: {changed} changed, "
        f"{result.count('unchanged')} unchanged, {len(failed)} failed, "
        f"{result.count('skipped')} skipped; {len(result.converted)} functions converted, "
        f"{len({(r.path, r.function) for r in refusals})} left for review "
        f"({result.seconds:.1f}s).\n"
    )
    if changed and not write:
        stream.write("Nothing was written; rerun with --write to apply the changes.\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``asynq-migrate``; returns the exit status (0 ok, 1 failure, 3 needs review)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        parser.error(f"no such file or directory: {', '.join(missing)}")
    try:
        config = load_config(args.config)
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
            if f.diff:
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

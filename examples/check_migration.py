"""Migrate each priming example app and prove the promise of asynq-migrate on it.

    python examples/check_migration.py [APP ...]

For each app (by default every one listed in APPS that exists), in a temporary copy:

1. run the app's driver (`drive.py`, which prints every page's output and its read round
   trips and database queries, cold and warm);
2. run `asynq-migrate --write` on the app's package; every file must still parse;
3. run it again: nothing may change (the migration is idempotent);
4. run the driver again: every page's output must be identical and its round trips, cold
   and warm, no more than before;
5. every priming twin left in the code must be accounted for by the report (its function
   was left for review, or the twin is listed as kept, or it is the alias of a cached
   function that legacy code still primes);
6. the migration writes no line longer than the configured line length (lines that were
   already longer may stay).

Prints a table per app and exits with status 1, naming every failed check, if any fails.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")

#: app directory under examples/ -> the path (inside it) that is migrated
APPS = {
    "priming_app": ".",
    "bookshop_priming": "bookshop",
    "tickets_priming": "tickets",
    "courses_priming": "courses",
}
PREFIX = "prime_"


class Failure(Exception):
    pass


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def drive(app_dir: str) -> dict[str, dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "drive.py"],
        cwd=app_dir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise Failure(f"drive.py failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)["pages"]  # type: ignore[no-any-return]


def migrate(app_dir: str, target: str, report: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "asynq.migrate", target, "--write", "--jobs", "2"]
        + ["--report", report],
        cwd=app_dir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode not in (0, 3):
        raise Failure(f"asynq-migrate failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    with open(report, encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def snapshot(root: str) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = f.read()
    return out


def leftovers(files: dict[str, bytes]) -> list[tuple[str, int, str, str, ast.AST]]:
    """Priming twins still defined: (file, line, twin name, function name, node)."""
    out = []
    for path, data in sorted(files.items()):
        tree = ast.parse(data, path)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith(PREFIX):
                out.append((path, node.lineno, node.name, node.name[len(PREFIX) :], node))
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id.startswith(PREFIX):
                    out.append((path, node.lineno, target.id, target.id[len(PREFIX) :], node))
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name.startswith(PREFIX):
                        method = f"{node.name}.{item.name[len(PREFIX):]}"
                        twin = f"{node.name}.{item.name}"
                        out.append((path, item.lineno, twin, method, item))
    return out


def line_length(app: str) -> int:
    """The line length asynq-migrate uses for the app (its pyproject.toml, or the default)."""
    from asynq.migrate import load_config
    from asynq.migrate._config import find_project_config

    return load_config(find_project_config([app])).line_length


def new_long_lines(
    original: dict[str, bytes], migrated: dict[str, bytes], limit: int
) -> list[str]:
    """Lines longer than the limit that the migration wrote (long lines it kept are fine)."""
    out = []
    for path, data in sorted(migrated.items()):
        before = set(original.get(path, b"").decode().splitlines())
        for number, line in enumerate(data.decode().splitlines(), 1):
            if len(line) > limit and line not in before:
                out.append(f"{path}:{number}: the migration wrote a line of {len(line)} > {limit}")
    return out


def unaccounted(files: dict[str, bytes], report: dict[str, object]) -> list[str]:
    refused = {r["function"] for r in report["refusals"]}  # type: ignore[attr-defined]
    kept = {k["name"] for k in report["kept"]}  # type: ignore[attr-defined]
    out = []
    for path, line, twin, function, node in leftovers(files):
        if function in refused or twin in kept:
            continue
        value = getattr(node, "value", None)
        if isinstance(value, ast.Attribute) and value.attr == "prime":
            continue  # the alias of a cached function: legacy code still primes it
        out.append(f"{path}:{line}: {twin} is left but the report does not say why")
    return out


def check_app(name: str, target: str) -> tuple[list[str], list[str]]:
    """Returns (table lines, failures)."""
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"check-{name}-") as tmp:
        app = os.path.join(tmp, name)
        # The apps live in this repository: its pyproject.toml (line length) governs them.
        shutil.copy(os.path.join(REPO, "pyproject.toml"), os.path.join(tmp, "pyproject.toml"))
        shutil.copytree(
            os.path.join(EXAMPLES, name), app, ignore=shutil.ignore_patterns("__pycache__")
        )
        before = drive(app)
        original = snapshot(app)
        report = migrate(app, target, os.path.join(tmp, "first.json"))
        migrated = snapshot(app)
        failures += new_long_lines(original, migrated, line_length(app))
        for path, data in migrated.items():
            try:
                ast.parse(data, path)
            except SyntaxError as exc:
                failures.append(f"{path} does not parse after the migration: {exc}")
        again = migrate(app, target, os.path.join(tmp, "second.json"))
        if snapshot(app) != migrated:
            changed = sorted(p for p, d in snapshot(app).items() if migrated.get(p) != d)
            failures.append(f"a second run changed {', '.join(changed)} (not idempotent)")
        after = drive(app)
        failures += unaccounted(migrated, report)
        del again

    converted = sum(1 for c in report["converted"] if not c["helper"])  # type: ignore[attr-defined]
    helpers = len(report["converted"]) - converted  # type: ignore[arg-type]
    refused = len({(r["file"], r["function"]) for r in report["refusals"]})  # type: ignore[attr-defined]
    lines = [
        f"{name}: {converted} of {converted + refused} primed functions converted "
        f"(and {helpers} helper functions they read), {len(report['kept'])} priming "
        f"functions kept, {len(report['notes'])} notes",
        f"  {'page':<24} {'cold before':>11} {'cold after':>10} {'warm before':>11} "
        f"{'warm after':>10} {'db cold before/after':>21}",
    ]
    for page in sorted(set(before) | set(after)):
        if page not in before or page not in after:
            failures.append(f"page {page} is not in both runs of the driver")
            continue
        b, a = before[page], after[page]
        lines.append(
            f"  {page:<24} {b['round_trips_cold']:>11} {a['round_trips_cold']:>10} "
            f"{b['round_trips_warm']:>11} {a['round_trips_warm']:>10} "
            f"{str(b['db_queries_cold']) + '/' + str(a['db_queries_cold']):>21}"
        )
        if a["output"] != b["output"]:
            failures.append(f"page {page}: the output changed")
        for phase in ("cold", "warm"):
            key = f"round_trips_{phase}"
            if a[key] > b[key]:  # type: ignore[operator]
                failures.append(f"page {page}: {phase} round trips went {b[key]} -> {a[key]}")
    return lines, [f"{name}: {f}" for f in failures]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apps", nargs="*", metavar="APP", help="apps to check (default: all)")
    args = parser.parse_args()
    names = args.apps or [n for n in APPS if os.path.isdir(os.path.join(EXAMPLES, n))]
    failures: list[str] = []
    for name in names:
        if name not in APPS:
            parser.error(f"unknown app {name!r}; known: {', '.join(APPS)}")
        try:
            lines, failed = check_app(name, APPS[name])
        except Failure as exc:
            lines, failed = [f"{name}: could not run"], [f"{name}: {exc}"]
        print("\n".join(lines), flush=True)
        failures += failed
    if failures:
        print("\nMIGRATION CHECK FAILED:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"migration check passed on {len(names)} app(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

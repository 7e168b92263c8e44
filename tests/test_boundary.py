"""The package's layers: only the kernel reads the kernel's private state, and imports form no cycle.

The kernel is a handful of modules (below) that may read each other's ``_``-names. Every other
module of ``asynq`` uses public names only: of the kernel (``asynq.lowlevel`` publishes what
extensions need) and of each other. And the import graph of the package (every import that runs,
at module level or inside a function; not ``if TYPE_CHECKING:`` blocks) has no cycle.

Both checks read the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "asynq"

#: The kernel: these modules may read each other's private names.
KERNEL = frozenset(
    f"asynq/{name}.py"
    for name in (
        "futures",
        "async_task",
        "batching",
        "scheduler",
        "contexts",
        "decorators",
        "_debug",
        "lowlevel",
        "instruments",
        "request_roots",
    )
)

#: Private names that subclasses of the kernel's classes override (the extension hooks of
#: ``BatchBase`` and ``FutureBase``, as in asynq 1.6): a subclass may define them and call them
#: on ``self`` or ``super()``; nobody else calls them.
SUBCLASS_HOOKS = frozenset(
    {"_try_switch_active_batch", "_start_flush", "_flush", "_cancel", "_describe", "_state_str"}
)

#: The public name to use instead of a private one, quoted in failure messages.
REPLACEMENTS = {
    "_short_repr": "asynq.lowlevel.short_repr",
    "_state_str": "asynq.lowlevel.state_str",
    "_note_sync_call": "asynq.lowlevel.note_sync_call",
    "_thread_state": "asynq.lowlevel.thread_state",
    "_before_sync_call": "asynq.lowlevel.set_before_sync_call",
    "_drivers": "asynq.lowlevel.set_sync_call_check",
    "_contexts": "asynq.lowlevel.task_contexts / start_task",
    "_queue": "asynq.lowlevel.start_task",
    "_ready": "asynq.lowlevel.start_task",
    "_generator": "asynq.lowlevel.task_generator",
    "_task": "asynq.lowlevel.context_task",
    "_notify": "asynq.lowlevel.resolve_item",
    "_value": "future.value() or asynq.lowlevel.resolve_item",
    "_error": "future.error() or asynq.lowlevel.fail_item",
    "_computed": "future.is_computed()",
    "_compute": "future.value() / future.error()",
    "_scheduled": "asynq.lowlevel.set_from_task (AWAITING_TASK)",
    "_try_switch_active_batch": "asynq.lowlevel.close_batch",
    "_flush_begun": "asynq.lowlevel.is_closed",
}

#: The kernel's fields of futures, tasks and batches: a subclass elsewhere that sets them (say,
#: to skip a base ``__init__``) is reaching into the kernel, not defining its own.
KERNEL_FIELDS = frozenset(
    {
        "_value",
        "_error",
        "_traceback",
        "_computed",
        "_waiters",
        "_on_computed",
        "_pending",
        "_queue",
        "_contexts",
        "_state",
        "_scheduled",
        "_flush_begun",
        "_ready",
        "_generator",
        "_yielded",
    }
)

#: The kernel's classes whose fields those are.
KERNEL_CLASSES = frozenset(
    {"FutureBase", "Future", "BatchBase", "BatchItemBase", "AsyncTask", "TaskScheduler"}
)


# -- reading the package -------------------------------------------------------------------------


def _modules() -> dict[str, Path]:
    """Module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _file(module: str) -> str:
    return MODULES[module].relative_to(ROOT).as_posix()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _kernel_fields_set_by_subclasses(tree: ast.AST) -> set[int]:
    """The ids of ``self.<kernel field> = ...`` nodes in classes derived from the kernel's
    futures: writing the kernel's fields does not make them the module's own."""
    nodes: set[int] = set()
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        bases = {getattr(base, "id", getattr(base, "attr", "")) for base in cls.bases}
        bases |= {
            getattr(base.value, "id", getattr(base.value, "attr", ""))
            for base in cls.bases
            if isinstance(base, ast.Subscript)
        }
        if bases & KERNEL_CLASSES:
            for node in ast.walk(cls):
                if isinstance(node, ast.Attribute) and node.attr in KERNEL_FIELDS:
                    nodes.add(id(node))
    return nodes


def _defined_names(tree: ast.AST) -> set[str]:
    """The names a module defines: module and class level names, functions, attributes it
    sets on ``self``/``cls``, ``__slots__`` entries and names it gives to ``setattr``."""
    names: set[str] = set()
    borrowed = _kernel_fields_set_by_subclasses(tree)
    for node in ast.walk(tree):
        if id(node) in borrowed:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, (ast.Store, ast.Del))
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            names.add(node.attr)
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            for element in ast.walk(node.value):
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    names.add(element.value)
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ("setattr", "__setattr__"):
                for arg in node.args[:3]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        names.add(arg.value)
    return names


DEFINED = {module: _defined_names(tree) for module, tree in TREES.items()}
OWNERS: dict[str, set[str]] = collections.defaultdict(set)
for _module, _names in DEFINED.items():
    for _name in _names:
        if _is_private(_name):
            OWNERS[_name].add(_module)


def _resolve(module: str, level: int, target: str | None) -> str:
    """The absolute module name of ``from <level dots><target> import ...`` in ``module``."""
    if not level:
        return target or ""
    base = module.split(".")
    if not MODULES[module].name == "__init__.py":
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _on_self(node: ast.Attribute) -> bool:
    value = node.value
    if isinstance(value, ast.Name) and value.id in ("self", "cls"):
        return True
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "super"
    )


def _violations() -> Iterator[tuple[str, int, str, str]]:
    """(file, line, private name, whose) for every read of another module's private name."""
    for module, tree in TREES.items():
        file = _file(module)
        in_kernel = file in KERNEL
        own = DEFINED[module]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(module, node.level, node.module)
                if not source.startswith("asynq") or source == module:
                    continue
                for alias in node.names:
                    if not _is_private(alias.name):
                        continue
                    if in_kernel and source in MODULES and _file(source) in KERNEL:
                        continue
                    yield file, node.lineno, alias.name, source
            elif isinstance(node, ast.Attribute) and _is_private(node.attr):
                name = node.attr
                owners = OWNERS.get(name, set()) - {module}
                if not owners:
                    continue  # this module's own name, or not one of the package's
                if _on_self(node):
                    if name in own or name in SUBCLASS_HOOKS:
                        continue  # its own attribute, or a hook its class overrides
                elif name in own:
                    continue  # its own attribute, on another object of its own classes
                if in_kernel and any(_file(owner) in KERNEL for owner in owners):
                    continue
                yield file, node.lineno, name, ", ".join(sorted(owners))


def _import_edges() -> dict[str, dict[str, int]]:
    """importer -> {imported module: line}, for every import of a package module that runs."""
    edges: dict[str, dict[str, int]] = collections.defaultdict(dict)

    def add(module: str, target: str, line: int) -> None:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != module:
            edges[module].setdefault(target, line)

    def visit(module: str, node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(module, child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("asynq"):
                    add(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node.level, node.module)
            if source.startswith("asynq"):
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    add(module, full if full in MODULES else source, node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(module, child)

    for module, tree in TREES.items():
        visit(module, tree)
    return edges


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in MODULES:
        if start in index:
            continue
        work = [(start, iter(edges.get(start, {})))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, {}))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _one_cycle(component: list[str], edges: dict[str, dict[str, int]]) -> str:
    """A cycle through the component's first module, as ``a.py:LINE -> b.py:LINE -> ... -> a``."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in edges.get(node, {}):
                if child == start:
                    path = paths[node] + [start]
                    hops = [
                        f"{_file(a)}:{edges[a][b]}" for a, b in zip(path, path[1:], strict=False)
                    ]
                    return " -> ".join(hops) + f" -> {_file(start)}"
                if child in members and child not in paths:
                    paths[child] = paths[node] + [child]
                    following.append(child)
        frontier = following
    return " <-> ".join(component)


# -- the checks ----------------------------------------------------------------------------------


def _all_violations() -> list[tuple[str, int, str, str]]:
    return sorted(set(_violations()))


def _message(file: str, line: int, name: str, whose: str) -> str:
    replacement = f"; use {REPLACEMENTS[name]}" if name in REPLACEMENTS else ""
    return f"{file}:{line}: reads `{name}` of {whose}{replacement}"


def test_no_module_outside_the_kernel_reads_another_modules_private_names() -> None:
    messages = [_message(*violation) for violation in _all_violations()]
    assert not messages, "private names read across modules:\n" + "\n".join(messages)


def test_the_checks_read_every_module_of_the_package_and_its_kernel() -> None:
    files = {_file(module) for module in MODULES}
    assert KERNEL - {"asynq/instruments.py", "asynq/request_roots.py"} <= files
    assert {"asynq/memcache/batch.py", "asynq/migrate/__init__.py", "asynq/loaders.py"} <= files
    assert _import_edges()["asynq.memcache.batch"]["asynq.lowlevel"] > 0


def test_a_violation_names_file_line_name_owner_and_the_public_replacement() -> None:
    assert _message("asynq/memcache/batch.py", 180, "_notify", "asynq.futures") == (
        "asynq/memcache/batch.py:180: reads `_notify` of asynq.futures; use "
        "asynq.lowlevel.resolve_item"
    )
    assert _message("asynq/web.py", 160, "_backlog", "asynq.memcache.client") == (
        "asynq/web.py:160: reads `_backlog` of asynq.memcache.client"
    )


def test_a_cycle_is_printed_as_the_chain_of_imports_that_closes_it() -> None:
    edges = {
        "asynq.scheduler": {"asynq.stats": 66},
        "asynq.stats": {"asynq.scheduler": 310},
    }
    assert _cycles(edges) == [["asynq.scheduler", "asynq.stats"]]
    assert _one_cycle(["asynq.scheduler", "asynq.stats"], edges) == (
        "asynq/scheduler.py:66 -> asynq/stats.py:310 -> asynq/scheduler.py"
    )


def test_the_package_imports_form_no_cycle() -> None:
    edges = _import_edges()
    cycles = [_one_cycle(component, edges) for component in _cycles(edges)]
    assert not cycles, "import cycles (module:line of each import):\n" + "\n".join(cycles)


# -- the checks themselves, on small made-up modules ---------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from .futures import _short_repr\n", ["_short_repr"]),
        ("def f(task):\n    task._contexts = ()\n", ["_contexts"]),
        ("def f(item):\n    return item._computed\n", ["_computed"]),
        ("class B:\n    def _flush(self):\n        self._describe()\n", []),
        ("import sys\nsys._getframe()\n", []),
    ],
)
def test_a_private_read_is_reported_only_when_another_module_owns_the_name(
    source: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = "asynq.example_extension"
    monkeypatch.setitem(MODULES, module, PACKAGE / "example_extension.py")
    monkeypatch.setitem(TREES, module, ast.parse(source))
    monkeypatch.setitem(DEFINED, module, _defined_names(TREES[module]))
    found = [name for file, _, name, _ in _violations() if file == "asynq/example_extension.py"]
    assert found == expected

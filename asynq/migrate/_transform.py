"""The libcst rewrite of one file, following the :class:`~._plan.FilePlan` made for it.

The plan names call sites by (unit, ordinal); this module re-runs the same walk as the
analysis (:func:`~._reads.analyze_units`) on the same source to find those nodes, then:

* turns each converted function into an ``@asynq()`` generator whose reads are yields,
  batching what priming fetched in one round into one yield;
* deletes priming calls the plan marks (and loops left with nothing else to do);
* deletes priming twins and aliases nobody needs any more, and their imports;
* adds ``from asynq import asynq`` where a converted function needs it.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ._config import MigrateConfig
from ._convert import FunctionConverter, convert_methods, with_property_calls
from ._cst import dotted_name
from ._facts import alias_target, twin_alias_target
from ._imports import add_asynq_import, clean_imports, used_names
from ._plan import FilePlan
from ._reads import Site, analyze_units
from ._removal import (
    EmptyBlockFiller,
    LoopNoter,
    PrimeRemover,
    drop_class_members,
    drop_from_all,
    with_first_call,
)
from ._results import Note, Refusal

__all__ = ["Note", "TransformOutput", "transform_module", "transform_source"]


@dataclasses.dataclass
class TransformOutput:
    """The rewritten code of one file and what the rewrite has to say about it."""

    code: str
    refusals: list[Refusal]
    notes: list[Note]
    kept: list[Refusal] = dataclasses.field(default_factory=list)


def _call_label(node: cst.CSTNode) -> str:
    if isinstance(node, cst.Call):
        ref = dotted_name(node.func)
        if ref is not None:
            return ".".join(ref)
    return "a priming call"


def transform_module(
    path: str,
    module: cst.Module,
    plan: FilePlan,
    config: MigrateConfig,
    source: str | None = None,
) -> TransformOutput:
    """Rewrite one parsed module according to ``plan``; returns the new code and findings.

    ``source`` (the text ``module`` was parsed from) only saves time when given.
    """
    needed = set(plan.converted) | {u for u, ords in plan.deletions.items() if ords}
    needed |= {r.unit for r in plan.refusals if r.unit is not None and r.ordinal is not None}
    analyzers = analyze_units(module, config, keep_nodes=True, only=needed)

    def site(unit: int, ordinal: int) -> Site:
        analyzer = analyzers[unit]
        assert analyzer is not None
        return analyzer.sites[ordinal]

    delete_ids: set[int] = set()
    labels: dict[int, str] = {}
    touched_statements: set[int] = set()  # module-level statements with deletions
    for unit_index, ordinals in plan.deletions.items():
        for ordinal in ordinals:
            found = site(unit_index, ordinal)
            assert found.node is not None
            delete_ids.add(id(found.node))
            labels[id(found.node)] = _call_label(found.node)
            if unit_index == 0:
                touched_statements.add(found.statement)
    noter = LoopNoter(delete_ids, labels)
    remover = PrimeRemover(delete_ids, noter)
    filler = EmptyBlockFiller()
    loop_owner: dict[int, str] = {}

    def remove_primes(stmt: cst.BaseStatement) -> cst.BaseStatement | cst.RemovalSentinel:
        result = stmt.visit(remover)
        if isinstance(result, cst.BaseStatement):
            filled = result.visit(filler)
            return filled if isinstance(filled, cst.BaseStatement) else cst.RemoveFromParent()
        return cst.RemoveFromParent()

    new_body: list[cst.BaseStatement] = []
    blank_lines: list[cst.EmptyLine] = []  # blank lines of deleted statements
    loop_statement: dict[int, int] = {}  # noted loop -> index of its top-level statement
    function_statement: dict[int, int] = {}  # unit -> index in module.body
    other_statement: dict[int, int] = {}  # index among module-unit statements -> module.body

    def add(new: cst.BaseStatement | cst.RemovalSentinel, old: cst.BaseStatement) -> None:
        nonlocal blank_lines
        if not isinstance(new, cst.BaseStatement):
            if not blank_lines:
                lines: Sequence[cst.EmptyLine] = getattr(old, "leading_lines", ())
                blank_lines = [line for line in lines if line.comment is None]
            return
        if blank_lines and not getattr(new, "leading_lines", True) and new_body:
            new = new.with_changes(leading_lines=blank_lines)
        blank_lines = []
        new_body.append(new)

    def removing(stmt: cst.BaseStatement, body_index: int, owner: str) -> None:
        before = len(noter.loops)
        add(remove_primes(stmt), stmt)
        for loop, _ in noter.loops[before:]:
            loop_statement[id(loop)] = body_index
            loop_owner[id(loop)] = owner

    unit_index = 0
    statement_index = -1
    for body_index, stmt in enumerate(module.body):
        if isinstance(stmt, cst.FunctionDef):
            unit_index += 1
            function_statement[unit_index] = body_index
            if unit_index in plan.delete_units:
                add(cst.RemoveFromParent(), stmt)
            elif unit_index in plan.kept_units or not (
                unit_index in plan.converted or plan.deletions.get(unit_index)
            ):
                add(stmt, stmt)
            elif unit_index in plan.converted:
                reads = [site(unit_index, o).node for o in plan.converted[unit_index]]
                new_fn, read_ids, deletes = with_property_calls(
                    stmt, [n for n in reads if n is not None], delete_ids
                )
                converter = FunctionConverter(
                    new_fn, read_ids, deletes, config.line_length, module.default_indent
                )
                converter.single_round = plan.single_round
                new_def = converter.convert()
                if unit_index in plan.twin_calls:
                    new_def = with_first_call(new_def, plan.twin_calls[unit_index])
                add(new_def, stmt)
            else:
                removing(stmt, body_index, stmt.name.value)
            continue
        statement_index += 1
        other_statement[statement_index] = body_index
        alias = alias_target(stmt, config.prime_prefix) or twin_alias_target(
            stmt, config.prime_prefix
        )
        if alias is not None and alias[0] in plan.delete_aliases:
            add(cst.RemoveFromParent(), stmt)
        elif statement_index in touched_statements:
            removing(stmt, body_index, "<module>")
        elif isinstance(stmt, cst.ClassDef) and any(
            cls == stmt.name.value for cls, _ in plan.converted_methods
        ):
            converted_class = convert_methods(stmt, plan, config, module.default_indent)
            unused_members = plan.delete_members.get(stmt.name.value, set())
            add(drop_class_members(converted_class, unused_members), stmt)
        else:
            add(stmt, stmt)

    deleted_names = set(plan.delete_aliases)
    deleted_names |= {
        stmt.name.value
        for index, stmt in enumerate(s for s in module.body if isinstance(s, cst.FunctionDef))
        if index + 1 in plan.delete_units
    }
    if deleted_names:
        new_body = [drop_from_all(stmt, deleted_names) for stmt in new_body]
    new_module = module.with_changes(body=new_body)
    if plan.removable_imports or plan.priming_imports:
        still_used = used_names(new_module)
        unused = plan.removable_imports - still_used
        if plan.priming_imports:
            # A priming function that stays for code elsewhere: its import goes when the
            # rewrite deleted its last use here (an import unused before is left alone).
            unused |= (plan.priming_imports & used_names(module)) - still_used
        if unused:
            new_module = clean_imports(new_module, unused)
    if plan.add_asynq_import:
        new_module = add_asynq_import(new_module, plan.local_roots)
    code = new_module.code

    refusals = [dataclasses.replace(r) for r in plan.refusals]
    kept = [dataclasses.replace(k) for k in plan.kept]
    notes: list[Note] = []
    if refusals or noter.loops or kept or plan.paired or plan.deleted_members:
        lines = _LineFinder(module, source)
        wanted = {entry.function for entry in kept if entry.method is None}
        where: dict[str, int] = {}
        for body_index, stmt in enumerate(module.body):
            if not wanted:
                break
            if isinstance(stmt, cst.FunctionDef):
                if stmt.name.value in wanted:
                    where[stmt.name.value] = lines.line(stmt.name, body_index)
                    wanted.discard(stmt.name.value)
            else:
                alias = alias_target(stmt, config.prime_prefix) or twin_alias_target(
                    stmt, config.prime_prefix
                )
                if alias is not None and alias[0] in wanted:
                    where[alias[0]] = lines.line(stmt, body_index)
                    wanted.discard(alias[0])
        for entry in kept:
            if entry.method is not None:
                method_hit = _find_method(module, *entry.method)
                if method_hit is not None:
                    entry.line = lines.line(method_hit[1], method_hit[0])
            else:
                entry.line = where.get(entry.function, 0)
        for refusal in refusals:
            if refusal.method is not None:
                method_hit = _find_method(module, *refusal.method)
                if method_hit is not None:
                    refusal.line = lines.line(method_hit[1], method_hit[0])
            elif refusal.unit is not None and refusal.unit in function_statement:
                stmt_index = function_statement[refusal.unit]
                if refusal.ordinal is not None:
                    node = site(refusal.unit, refusal.ordinal).node
                else:
                    fn = module.body[stmt_index]
                    node = fn.name if isinstance(fn, cst.FunctionDef) else None
                if node is not None:
                    refusal.line = lines.line(node, stmt_index)
            elif refusal.unit == 0 and refusal.ordinal is not None:
                found_site = site(0, refusal.ordinal)
                if found_site.node is not None:
                    refusal.line = lines.line(
                        found_site.node, other_statement[found_site.statement]
                    )
        for entry in plan.paired:  # twins paired by how they are called
            fn = module.body[function_statement[entry.unit or 0]]
            assert isinstance(fn, cst.FunctionDef)
            line = lines.line(fn.name, function_statement[entry.unit or 0])
            notes.append(Note(path, line, entry.function, entry.reason))
        for entry in plan.deleted_members:  # method twins nothing uses any more
            assert entry.method is not None
            member_hit = _find_method(module, *entry.method)
            line = lines.line(member_hit[1], member_hit[0]) if member_hit is not None else 0
            notes.append(Note(path, line, entry.function, entry.reason))
        for loop, label in noter.loops:
            notes.append(
                Note(
                    path,
                    lines.line(loop, loop_statement[id(loop)]),
                    loop_owner.get(id(loop), "<module>"),
                    f"Deleted a loop that only primed {label}. The plain calls that follow "
                    "are no longer batched across items (each converted call batches its own "
                    "reads; each read of a cached function is its own round trip); to batch "
                    "across items, make this function @asynq() and yield the calls together.",
                )
            )
    return TransformOutput(code, refusals, notes, kept)


class _LineFinder:
    """Line numbers of nodes, computed one top-level statement at a time.

    ``PositionProvider`` over a whole module costs more than the rest of the rewrite, and
    lines are needed only for the few nodes that are reported.
    """

    def __init__(self, module: cst.Module, source: str | None = None) -> None:
        self.module = module
        self.source = source
        self._starts: list[int] | None = None
        self._positions: dict[int, Any] = {}

    def _statement_starts(self) -> list[int]:
        if self._starts is None:
            # Python's own parser gives the line of each statement cheaply; a libcst
            # statement starts earlier by the blank and comment lines it owns.
            tree = ast.parse(self.source if self.source is not None else self.module.code)
            ast_lines: list[int] = []
            for node in tree.body:
                decorators = getattr(node, "decorator_list", [])
                ast_lines.append(min([node.lineno, *(d.lineno for d in decorators)]))
            starts = []
            position = 0
            for stmt in self.module.body:
                starts.append(ast_lines[position] - len(getattr(stmt, "leading_lines", ())))
                position += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
            self._starts = starts
        return self._starts

    def line(self, node: cst.CSTNode, statement: int) -> int:
        """The line of ``node``, which lies inside top-level statement number ``statement``."""
        if statement not in self._positions:
            stmt = self.module.body[statement]
            alone = self.module.with_changes(body=[stmt], header=[], footer=[])
            wrapper = MetadataWrapper(alone, unsafe_skip_copy=True)
            self._positions[statement] = wrapper.resolve(PositionProvider)
        positions = self._positions[statement]
        if node not in positions:
            return 0
        return self._statement_starts()[statement] + positions[node].start.line - 1


def _find_method(module: cst.Module, cls: str, method: str) -> tuple[int, cst.CSTNode] | None:
    for index, stmt in enumerate(module.body):
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == cls:
            for inner in stmt.body.body:
                if isinstance(inner, cst.FunctionDef) and inner.name.value == method:
                    return index, inner.name
                if (
                    isinstance(inner, cst.SimpleStatementLine)
                    and len(inner.body) == 1
                    and isinstance(inner.body[0], cst.Assign)
                    and any(
                        isinstance(t.target, cst.Name) and t.target.value == method
                        for t in inner.body[0].targets
                    )
                ):
                    return index, inner  # ``prime_link = prime`` in the class body
    return None


def transform_source(
    path: str, source: str, plan: FilePlan, config: MigrateConfig
) -> TransformOutput:
    """Parse ``source`` and rewrite it according to ``plan``."""
    return transform_module(path, cst.parse_module(source), plan, config, source)

"""Deleting priming: whole-statement priming calls, the loops and blocks they leave empty."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from ._cst import dotted_name, has_call


def pass_line() -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[cst.Pass()])


def fix_semicolons(body: Sequence[cst.BaseSmallStatement]) -> list[cst.BaseSmallStatement]:
    out = list(body)
    if out:
        out[-1] = out[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
    return out


def _is_empty(suite: cst.BaseSuite) -> bool:
    return len(suite.body) == 0


class EmptyBlockFiller(cst.CSTTransformer):
    """Puts ``pass`` into blocks that deletions left empty."""

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if not updated_node.body:
            return updated_node.with_changes(body=[pass_line()])
        return updated_node

    def leave_SimpleStatementSuite(
        self, original_node: cst.SimpleStatementSuite, updated_node: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        if not updated_node.body:
            return updated_node.with_changes(body=[cst.Pass()])
        return updated_node


class PrimeRemover(cst.CSTTransformer):
    """Deletes whole-statement priming calls named by id, and loops left empty by that."""

    def __init__(self, delete_ids: set[int], on_loop_removed: LoopNoter | None) -> None:
        super().__init__()
        self.delete_ids = delete_ids
        self.on_loop_removed = on_loop_removed

    def _deleted(self, small: cst.BaseSmallStatement) -> bool:
        return isinstance(small, cst.Expr) and id(small.value) in self.delete_ids

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        kept = [
            u
            for o, u in zip(original_node.body, updated_node.body, strict=True)
            if not self._deleted(o)
        ]
        if len(kept) == len(updated_node.body):
            return updated_node
        if not kept:
            return cst.RemoveFromParent()
        return updated_node.with_changes(body=fix_semicolons(kept))

    def leave_SimpleStatementSuite(
        self, original_node: cst.SimpleStatementSuite, updated_node: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        kept = [
            u
            for o, u in zip(original_node.body, updated_node.body, strict=True)
            if not self._deleted(o)
        ]
        if len(kept) == len(updated_node.body):
            return updated_node
        return updated_node.with_changes(body=fix_semicolons(kept))

    def leave_For(
        self, original_node: cst.For, updated_node: cst.For
    ) -> cst.For | cst.RemovalSentinel:
        if _is_empty(updated_node.body) and updated_node.orelse is None:
            if self.on_loop_removed is not None:
                self.on_loop_removed(original_node)
            return cst.RemoveFromParent()
        return updated_node

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.If | cst.RemovalSentinel:
        if (
            _is_empty(updated_node.body)
            and updated_node.orelse is None
            and not has_call(updated_node.test)
        ):
            return cst.RemoveFromParent()
        return updated_node


class LoopNoter:
    """Remembers loops deleted from unconverted code (they get a note)."""

    def __init__(self, delete_ids: set[int], labels: dict[int, str]) -> None:
        self.delete_ids = delete_ids
        self.labels = labels
        self.loops: list[tuple[cst.For, str]] = []

    def __call__(self, loop: cst.For) -> None:
        names: list[str] = []

        class _Finder(cst.CSTVisitor):
            def visit_Call(self_inner, node: cst.Call) -> None:  # noqa: N805
                label = self.labels.get(id(node))
                if label is not None and label not in names:
                    names.append(label)

        loop.visit(_Finder())
        self.loops.append((loop, ", ".join(names) or "priming calls"))


def drop_from_all(stmt: cst.BaseStatement, names: set[str]) -> cst.BaseStatement:
    """Remove deleted names from a module-level ``__all__ = [...]`` (or ``+=``)."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return stmt
    small = stmt.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target: cst.BaseExpression = small.targets[0].target
    elif isinstance(small, cst.AugAssign):
        target = small.target
    else:
        return stmt
    value = small.value
    if dotted_name(target) != ("__all__",) or not isinstance(value, (cst.List, cst.Tuple)):
        return stmt
    kept = [
        el
        for el in value.elements
        if not (isinstance(el.value, cst.SimpleString) and el.value.evaluated_value in names)
    ]
    if len(kept) == len(value.elements) or not kept:
        return (
            stmt
            if len(kept) == len(value.elements)
            else stmt.with_changes(body=[small.with_changes(value=value.with_changes(elements=[]))])
        )
    kept[-1] = kept[-1].with_changes(comma=value.elements[-1].comma)
    return stmt.with_changes(body=[small.with_changes(value=value.with_changes(elements=kept))])


def drop_class_members(cls: cst.ClassDef, names: set[str]) -> cst.ClassDef:
    """The class without the methods named ``names`` and without class-body assignments
    ``name = ...`` of those names (deleted method twins and their aliases). The comments and
    blank lines above a deleted member go with it; the next member keeps its own."""
    if not names or not isinstance(cls.body, cst.IndentedBlock):
        return cls

    def named(item: cst.BaseStatement) -> bool:
        if isinstance(item, cst.FunctionDef):
            return item.name.value in names
        if isinstance(item, cst.SimpleStatementLine) and len(item.body) == 1:
            small = item.body[0]
            return (
                isinstance(small, cst.Assign)
                and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and small.targets[0].target.value in names
            )
        return False

    body = [item for item in cls.body.body if not named(item)]
    if len(body) == len(cls.body.body) or not body:
        return cls
    if cls.body.body and named(cls.body.body[0]):
        # The first member keeps no blank line above it, as before.
        first = body[0]
        lines = [line for line in getattr(first, "leading_lines", ()) if line.comment is not None]
        body[0] = first.with_changes(leading_lines=lines)
    return cls.with_changes(body=cls.body.with_changes(body=body))


def with_first_call(fn: cst.FunctionDef, call: str) -> cst.FunctionDef:
    """``fn`` with the statement ``call`` added first in its body (after its docstring)."""
    statement = cst.parse_statement(call + "\n")
    body = fn.body
    if isinstance(body, cst.SimpleStatementSuite):
        body = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=body.body)])
    assert isinstance(body, cst.IndentedBlock)
    items = list(body.body)
    at = 0
    if items and isinstance(items[0], cst.SimpleStatementLine) and len(items[0].body) == 1:
        first = items[0].body[0]
        if isinstance(first, cst.Expr) and isinstance(
            first.value, (cst.SimpleString, cst.ConcatenatedString)
        ):
            at = 1
    if at == 0 and items:
        # The comments above the first statement stay above it, below the new call.
        statement = statement.with_changes(leading_lines=[])
    items.insert(at, statement)
    return fn.with_changes(body=body.with_changes(body=items))

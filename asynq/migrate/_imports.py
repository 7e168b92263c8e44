"""Imports around a rewrite: adding ``from asynq import asynq``, dropping unused ones."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import libcst as cst

from ._cst import alias_binding, dotted_name, walk
from ._removal import EmptyBlockFiller, fix_semicolons


class _ImportCleaner(cst.CSTTransformer):
    """Drops import bindings that are removable and no longer used."""

    def __init__(self, removable: set[str]) -> None:
        super().__init__()
        self.removable = removable

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def _clean(
        self, node: cst.Import | cst.ImportFrom
    ) -> cst.Import | cst.ImportFrom | cst.RemovalSentinel:
        if isinstance(node.names, cst.ImportStar):
            return node
        kept = [a for a in node.names if alias_binding(a) not in self.removable]
        if len(kept) == len(node.names):
            return node
        if not kept:
            return cst.RemoveFromParent()
        parenthesized = isinstance(node, cst.ImportFrom) and node.lpar is not None
        # In a parenthesised import the last comma carries the newline before ")".
        last_comma = node.names[-1].comma if parenthesized else cst.MaybeSentinel.DEFAULT
        kept[-1] = kept[-1].with_changes(comma=last_comma)
        return node.with_changes(names=kept)

    def leave_Import(
        self, original_node: cst.Import, updated_node: cst.Import
    ) -> cst.Import | cst.RemovalSentinel:
        result = self._clean(updated_node)
        assert not isinstance(result, cst.ImportFrom)
        return result

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom | cst.RemovalSentinel:
        result = self._clean(updated_node)
        assert not isinstance(result, cst.Import)
        return result

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        if not updated_node.body:
            return cst.RemoveFromParent()
        return updated_node.with_changes(body=fix_semicolons(updated_node.body))


def is_docstring_or_future(stmt: cst.BaseStatement) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if isinstance(small, cst.Expr) and isinstance(
        small.value, (cst.SimpleString, cst.ConcatenatedString)
    ):
        return True
    return isinstance(small, cst.ImportFrom) and dotted_name(small.module or cst.Name("x")) == (
        "__future__",
    )


def _is_import(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
    )


def add_asynq_import(module: cst.Module, local_roots: frozenset[str] = frozenset()) -> cst.Module:
    """Import ``asynq`` from the asynq package: joined to an existing ``from asynq import``,
    else among the file's third-party imports (or as their group, before the project's)."""
    body = list(module.body)
    for i, stmt in enumerate(body):
        if (
            isinstance(stmt, cst.SimpleStatementLine)
            and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.ImportFrom)
            and not stmt.body[0].relative
            and stmt.body[0].module is not None
            and dotted_name(stmt.body[0].module) == ("asynq",)
            and not isinstance(stmt.body[0].names, cst.ImportStar)
        ):
            imp = stmt.body[0]
            assert not isinstance(imp.names, cst.ImportStar)
            names = list(imp.names)
            names[-1] = names[-1].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
            new_names = sorted(
                [*names, cst.ImportAlias(name=cst.Name("asynq"))],
                key=lambda a: cst.Module([]).code_for_node(a.name),
            )
            new_names = [
                a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                for a in new_names[:-1]
            ] + [new_names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
            body[i] = stmt.with_changes(body=[imp.with_changes(names=new_names)])
            return module.with_changes(body=body)
    new_line = cst.SimpleStatementLine(
        body=[cst.ImportFrom(module=cst.Name("asynq"), names=[cst.ImportAlias(cst.Name("asynq"))])]
    )
    header_end = 0  # the docstring, __future__ imports and the imports that follow them
    for i, stmt in enumerate(body):
        if is_docstring_or_future(stmt) or _is_import(stmt):
            header_end = i + 1
        else:
            break
    imports = [
        (i, _import_section(stmt, local_roots))
        for i, stmt in enumerate(body[:header_end])
        if _is_import(stmt) and not is_docstring_or_future(stmt)
    ]
    third = [(i, _import_key(body[i])) for i, section in imports if section == "third"]
    blank = [cst.EmptyLine()]
    if third:
        # Among the other third-party imports, in alphabetical order.
        after = [i for i, key in third if key > "asynq"]
        insert_at = after[0] if after else third[-1][0] + 1
        if after and insert_at == third[0][0]:
            first = body[insert_at]
            new_line = new_line.with_changes(leading_lines=first.leading_lines)
            body[insert_at] = first.with_changes(leading_lines=[])
        body.insert(insert_at, new_line)
        return module.with_changes(body=body)
    local = [i for i, section in imports if section == "local"]
    if local:
        # Its own group, before the project's own imports.
        insert_at = local[0]
        first = body[insert_at]
        if insert_at > 0 and any(i < insert_at for i, _ in imports):
            new_line = new_line.with_changes(leading_lines=blank)
        else:
            new_line = new_line.with_changes(leading_lines=first.leading_lines)
        body[insert_at] = first.with_changes(leading_lines=blank)
        body.insert(insert_at, new_line)
        return module.with_changes(body=body)
    insert_at = header_end
    if imports:
        new_line = new_line.with_changes(leading_lines=blank)
    elif insert_at == 0 and body:
        # Keep the file's header comments on top.
        first = body[0]
        new_line = new_line.with_changes(leading_lines=first.leading_lines)
        body[0] = first.with_changes(leading_lines=[])
    body.insert(insert_at, new_line)
    following = body[insert_at + 1] if insert_at + 1 < len(body) else None
    if following is not None and not _is_import(following):
        if not getattr(following, "leading_lines", True):
            body[insert_at + 1] = following.with_changes(leading_lines=[cst.EmptyLine()])
    return module.with_changes(body=body)


def _import_key(stmt: cst.BaseStatement) -> str:
    """The module an import statement names first (for ordering)."""
    assert isinstance(stmt, cst.SimpleStatementLine)
    small = stmt.body[0]
    if isinstance(small, cst.Import):
        ref = dotted_name(small.names[0].name)
    elif isinstance(small, cst.ImportFrom) and small.module is not None:
        ref = dotted_name(small.module)
    else:
        ref = None
    return ".".join(ref) if ref else ""


def _import_section(stmt: cst.BaseStatement, local_roots: frozenset[str]) -> str:
    """``stdlib``, ``third`` (installed packages) or ``local`` (the project's own modules)."""
    assert isinstance(stmt, cst.SimpleStatementLine)
    small = stmt.body[0]
    if isinstance(small, cst.ImportFrom) and small.relative:
        return "local"
    root = _import_key(stmt).split(".")[0]
    if root in local_roots:
        return "local"
    if root in sys.stdlib_module_names:
        return "stdlib"
    return "third"


def used_names(module: cst.Module) -> set[str]:
    """Names used anywhere in ``module`` except in import statements."""
    names: set[str] = set()

    def visit(node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            return False
        if type(node) is cst.Name:
            names.add(node.value)
        return True

    walk(module, visit)
    return names


def clean_imports(module: cst.Module, unused: set[str]) -> cst.Module:
    """``module`` without the import bindings in ``unused`` (statements left empty go, and so
    does the blank line above what becomes the file's first statement)."""
    cleaner = _ImportCleaner(unused)
    body: list[cst.BaseStatement] = []
    blank_lines: Sequence[cst.EmptyLine] = ()
    header: Sequence[cst.EmptyLine] | None = None
    for stmt in module.body:
        if _is_import(stmt) or isinstance(stmt, (cst.If, cst.Try)):
            result = stmt.visit(cleaner)
            if isinstance(result, (cst.If, cst.Try)):
                result = result.visit(EmptyBlockFiller())
            if not isinstance(result, cst.BaseStatement):
                lines: Sequence[cst.EmptyLine] = getattr(stmt, "leading_lines", ())
                if not body:
                    # The file's first statement: what follows moves to the top, under the
                    # removed statement's header comments, without a blank line above it.
                    header = header or lines
                    continue
                # Keep the blank lines that separated the removed import from what precedes.
                blank_lines = blank_lines or [line for line in lines if line.comment is None]
                continue
            stmt = result
        if not body and header is not None:
            own = [line for line in getattr(stmt, "leading_lines", ()) if line.comment is not None]
            stmt = stmt.with_changes(leading_lines=[*header, *own])
            header = None
        if blank_lines and not getattr(stmt, "leading_lines", True):
            stmt = stmt.with_changes(leading_lines=blank_lines)
        blank_lines = ()
        body.append(stmt)
    return module.with_changes(body=body)

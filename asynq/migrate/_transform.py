"""The libcst rewrite of one file, following the :class:`~._index.FilePlan` made for it.

The plan names call sites by (unit, ordinal); this module re-runs the same walk as the
analysis (:func:`~._index.analyze_units`) on the same source to find those nodes, then:

* turns each converted function into an ``@asynq()`` generator whose reads are yields,
  batching what priming fetched in one round into one yield;
* deletes priming calls the plan marks (and loops left with nothing else to do);
* deletes priming twins and aliases nobody needs any more, and their imports;
* adds ``from asynq import asynq`` where a converted function needs it.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any, TypeVar

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ._config import MigrateConfig
from ._index import (
    HARMLESS_BUILTINS,
    CollectLoop,
    FilePlan,
    Refusal,
    Site,
    alias_target,
    analyze_method,
    analyze_units,
    child_nodes,
    consumed_genexp,
    dotted_name,
    has_call,
    hoistable_loop_calls,
    match_collect_loop,
    name_counts,
    param_names,
    plain_filter,
    sort_key_reads,
    target_names,
    twin_alias_target,
    two_phase_calls,
    walk,
)

__all__ = ["Note", "TransformOutput", "transform_module", "transform_source"]


@dataclasses.dataclass
class Note:
    """Something worth a look that the codemod did anyway (does not need review)."""

    path: str
    line: int
    function: str
    message: str

    def as_dict(self) -> dict[str, object]:
        """The JSON form used by ``--report``."""
        return {
            "file": self.path,
            "line": self.line,
            "function": self.function,
            "message": self.message,
        }


@dataclasses.dataclass
class TransformOutput:
    """The rewritten code of one file and what the rewrite has to say about it."""

    code: str
    refusals: list[Refusal]
    notes: list[Note]
    kept: list[Refusal] = dataclasses.field(default_factory=list)


def _paren_yield(value: cst.BaseExpression) -> cst.Yield:
    return cst.Yield(value=value, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _pass_line() -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[cst.Pass()])


def _fix_semicolons(body: Sequence[cst.BaseSmallStatement]) -> list[cst.BaseSmallStatement]:
    out = list(body)
    if out:
        out[-1] = out[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
    return out


def _is_empty(suite: cst.BaseSuite) -> bool:
    return len(suite.body) == 0


class _EmptyBlockFiller(cst.CSTTransformer):
    """Puts ``pass`` into blocks that deletions left empty."""

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if not updated_node.body:
            return updated_node.with_changes(body=[_pass_line()])
        return updated_node

    def leave_SimpleStatementSuite(
        self, original_node: cst.SimpleStatementSuite, updated_node: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        if not updated_node.body:
            return updated_node.with_changes(body=[cst.Pass()])
        return updated_node


class _PrimeRemover(cst.CSTTransformer):
    """Deletes whole-statement priming calls named by id, and loops left empty by that."""

    def __init__(self, delete_ids: set[int], on_loop_removed: _LoopNoter | None) -> None:
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
        return updated_node.with_changes(body=_fix_semicolons(kept))

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
        return updated_node.with_changes(body=_fix_semicolons(kept))

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


class _LoopNoter:
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


class _ReadRewriter(cst.CSTTransformer):
    """Turns reads (calls named by id) into yields of ``.asynq()`` calls, batching where it can.

    ``f(x)`` becomes ``(yield f.asynq(x))``; a comprehension whose element is a read
    becomes one yield of the comprehension of ``.asynq()`` calls; a list, tuple or dict
    display made only of reads becomes one yield of the display.
    """

    def __init__(self, read_ids: set[int]) -> None:
        super().__init__()
        self.read_ids = read_ids
        self.yields = 0  # how many yields were made (a hint for hoisting)
        self._bare: set[int] = set()  # reads that become f.asynq(...) without a yield
        self._batched: set[int] = set()  # comprehensions / displays that get one yield
        self._consumed: set[int] = set()

    def is_pure_read(self, node: cst.BaseExpression) -> bool:
        """A read whose own arguments contain no read."""
        if not isinstance(node, cst.Call) or id(node) not in self.read_ids:
            return False
        read_ids = self.read_ids
        found = False

        class _Finder(cst.CSTVisitor):
            def on_visit(self, n: cst.CSTNode) -> bool:
                nonlocal found
                if id(n) in read_ids or isinstance(n, (cst.Yield, cst.Await)):
                    found = True
                return not found

        for arg in node.args:
            arg.visit(_Finder())
        return not found

    # Comprehensions ------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        genexp = consumed_genexp(node)
        if genexp is not None:
            self._consumed.add(id(genexp))

    def _comp(self, node: cst.CSTNode, elt: cst.BaseExpression) -> None:
        if self.is_pure_read(elt):
            self._bare.add(id(elt))
            self._batched.add(id(node))

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._comp(node, node.elt)

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._comp(node, node.elt)

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._comp(node, node.value)

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        if id(node) in self._consumed:
            self._comp(node, node.elt)

    # Displays ------------------------------------------------------------------------
    def _display(self, node: cst.CSTNode, values: list[cst.BaseExpression] | None) -> None:
        if values and all(self.is_pure_read(v) for v in values):
            self._bare.update(id(v) for v in values)
            self._batched.add(id(node))

    def visit_List(self, node: cst.List) -> None:
        self._display(node, self._element_values(node.elements))

    def visit_Tuple(self, node: cst.Tuple) -> None:
        self._display(node, self._element_values(node.elements))

    def visit_Dict(self, node: cst.Dict) -> None:
        values: list[cst.BaseExpression] | None = []
        for el in node.elements:
            if not isinstance(el, cst.DictElement) or has_call(el.key):
                values = None
                break
            assert values is not None
            values.append(el.value)
        self._display(node, values)

    @staticmethod
    def _element_values(
        elements: Sequence[cst.BaseElement],
    ) -> list[cst.BaseExpression] | None:
        if not all(isinstance(el, cst.Element) for el in elements):
            return None
        return [el.value for el in elements]

    # Rewrites ------------------------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if id(original_node) not in self.read_ids:
            return updated_node
        call = updated_node.with_changes(
            func=cst.Attribute(value=updated_node.func, attr=cst.Name("asynq"))
        )
        if id(original_node) in self._bare:
            return call
        self.yields += 1
        return _paren_yield(call)

    def leave_ListComp(
        self, original_node: cst.ListComp, updated_node: cst.ListComp
    ) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return _paren_yield(updated_node.with_changes(lpar=[], rpar=[]))
        return updated_node

    def leave_DictComp(
        self, original_node: cst.DictComp, updated_node: cst.DictComp
    ) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return _paren_yield(updated_node.with_changes(lpar=[], rpar=[]))
        return updated_node

    def leave_SetComp(
        self, original_node: cst.SetComp, updated_node: cst.SetComp
    ) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            as_list = cst.ListComp(elt=updated_node.elt, for_in=updated_node.for_in)
            return cst.Call(func=cst.Name("set"), args=[cst.Arg(_paren_yield(as_list))])
        return updated_node

    def leave_GeneratorExp(
        self, original_node: cst.GeneratorExp, updated_node: cst.GeneratorExp
    ) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return _paren_yield(cst.ListComp(elt=updated_node.elt, for_in=updated_node.for_in))
        return updated_node

    def leave_List(self, original_node: cst.List, updated_node: cst.List) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return _paren_yield(updated_node.with_changes(lpar=[], rpar=[]))
        return updated_node

    def leave_Tuple(self, original_node: cst.Tuple, updated_node: cst.Tuple) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return _paren_yield(updated_node)
        return updated_node

    def leave_Dict(self, original_node: cst.Dict, updated_node: cst.Dict) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return _paren_yield(updated_node.with_changes(lpar=[], rpar=[]))
        return updated_node


def _strip_yield_parens(small: cst.BaseSmallStatement) -> cst.BaseSmallStatement:
    """``x = (yield v)`` -> ``x = yield v`` (also for augmented assignments and bare yields)."""
    if isinstance(small, (cst.Assign, cst.AugAssign, cst.Expr)):
        value = small.value
        if isinstance(value, cst.Yield) and value.lpar:
            return small.with_changes(value=value.with_changes(lpar=[], rpar=[]))
    return small


@dataclasses.dataclass
class _Member:
    stmt: cst.SimpleStatementLine
    target: cst.BaseAssignTargetExpression
    item: cst.BaseExpression
    assigned: set[str]


def _read_member(stmt: cst.BaseStatement) -> _Member | None:
    """``target = yield item`` where item has no nested yield: a candidate for grouping."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    value = small.value
    if not isinstance(value, cst.Yield) or value.lpar or value.value is None:
        return None
    if isinstance(value.value, cst.From):
        return None
    item = value.value
    if _contains_yield(item):
        return None
    target = small.targets[0].target
    if isinstance(target, cst.Name):
        assigned = {target.value}
    elif isinstance(target, (cst.Tuple, cst.List)) and all(
        isinstance(el, cst.Element) and isinstance(el.value, cst.Name) for el in target.elements
    ):
        assigned = target_names(target)
    else:
        return None
    return _Member(stmt, target, item, assigned)


def _contains_yield(node: cst.CSTNode) -> bool:
    found = False

    def visit(n: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(n, (cst.Yield, cst.Await)):
            found = True
        return not found

    walk(node, visit)
    return found


def _parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, cst.Tuple) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def _merge(members: list[_Member]) -> cst.SimpleStatementLine:
    """One ``a, b = yield x, y`` statement for several independent reads."""
    if len(members) == 1:
        return members[0].stmt
    leading: list[cst.EmptyLine] = []
    for i, member in enumerate(members):
        leading.extend(member.stmt.leading_lines)
        comment = member.stmt.trailing_whitespace.comment
        if comment is not None and i < len(members) - 1:
            leading.append(cst.EmptyLine(comment=comment))

    def element(value: cst.BaseExpression, last: bool) -> cst.Element:
        comma = (
            cst.MaybeSentinel.DEFAULT
            if last
            else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
        return cst.Element(value=value, comma=comma)

    n = len(members)
    targets = cst.Tuple(
        elements=[element(_parenthesized(m.target), i == n - 1) for i, m in enumerate(members)],
        lpar=[],
        rpar=[],
    )
    items = cst.Tuple(
        elements=[element(_parenthesized(m.item), i == n - 1) for i, m in enumerate(members)],
        lpar=[],
        rpar=[],
    )
    assign = cst.Assign(targets=[cst.AssignTarget(target=targets)], value=cst.Yield(value=items))
    return members[-1].stmt.with_changes(body=[assign], leading_lines=leading)


def _group_reads(stmts: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """Merge runs of consecutive independent ``x = yield ...`` statements into one yield."""
    out: list[cst.BaseStatement] = []
    run: list[_Member] = []
    assigned: set[str] = set()

    def flush() -> None:
        nonlocal run, assigned
        if run:
            out.append(_merge(run))
        run, assigned = [], set()

    for stmt in stmts:
        member = _read_member(stmt)
        if member is None:
            flush()
            out.append(stmt)
            continue
        uses = name_counts(member.item)
        if run and any(uses[n] for n in assigned):
            flush()
        run.append(member)
        assigned |= member.assigned
    flush()
    return out


_N = TypeVar("_N", bound=cst.CSTNode)

#: Builtins that may run a little earlier than written without anyone noticing.
_CONDITIONAL_INSIDE = (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)


def _collect_unconditional_yields(
    node: cst.CSTNode, conditional: bool, out: list[cst.Yield]
) -> bool:
    """Collect the yields of ``node`` that always run, in order; False if hoisting is unsafe
    (an assignment expression, a lambda, a nested yield...)."""
    if isinstance(node, cst.Yield):
        if node.value is None or isinstance(node.value, cst.From) or _contains_yield(node.value):
            return False
        if not conditional:
            out.append(node)
        return True
    if isinstance(node, (cst.NamedExpr, cst.Lambda, cst.Await)):
        return False
    if isinstance(node, cst.IfExp):
        return (
            _collect_unconditional_yields(node.test, conditional, out)
            and _collect_unconditional_yields(node.body, True, out)
            and _collect_unconditional_yields(node.orelse, True, out)
        )
    if isinstance(node, cst.BooleanOperation):
        return _collect_unconditional_yields(
            node.left, conditional, out
        ) and _collect_unconditional_yields(node.right, True, out)
    if isinstance(node, cst.Comparison):
        ok = _collect_unconditional_yields(node.left, conditional, out)
        for i, target in enumerate(node.comparisons):
            ok = ok and _collect_unconditional_yields(target.comparator, conditional or i > 0, out)
        return ok
    if isinstance(node, _CONDITIONAL_INSIDE):
        ok = _collect_unconditional_yields(node.for_in.iter, conditional, out)
        return ok and all(
            _collect_unconditional_yields(child, True, out)
            for child in child_nodes(node)
            if child is not node.for_in
        )
    return all(_collect_unconditional_yields(c, conditional, out) for c in child_nodes(node))


def _nested_yields(node: cst.CSTNode) -> list[cst.Yield] | None:
    """The innermost yields nested in another yield's value that always run (so that they can
    be read into a name first, in the same order); None if that is unsafe."""
    out: list[cst.Yield] = []
    unsafe = False

    def find(n: cst.CSTNode, conditional: bool, inside: bool) -> None:
        nonlocal unsafe
        if unsafe:
            return
        if isinstance(n, cst.Yield):
            if n.value is None or isinstance(n.value, cst.From):
                return
            if not _contains_yield(n.value):
                if inside and not conditional and _safe_to_evaluate_early(n.value):
                    out.append(n)
                return
            find(n.value, conditional, True)
            return
        if isinstance(n, (cst.NamedExpr, cst.Lambda, cst.Await)):
            unsafe = True
            return
        if isinstance(n, cst.IfExp):
            find(n.test, conditional, inside)
            find(n.body, True, inside)
            find(n.orelse, True, inside)
            return
        if isinstance(n, cst.BooleanOperation):
            find(n.left, conditional, inside)
            find(n.right, True, inside)
            return
        if isinstance(n, cst.Comparison):
            find(n.left, conditional, inside)
            for i, target in enumerate(n.comparisons):
                find(target.comparator, conditional or i > 0, inside)
            return
        if isinstance(n, _CONDITIONAL_INSIDE):
            find(n.for_in.iter, conditional, inside)
            for child in child_nodes(n):
                if child is not n.for_in:
                    find(child, True, inside)
            for child in child_nodes(n.for_in):
                if child is not n.for_in.iter:
                    find(child, True, inside)
            return
        for child in child_nodes(n):
            find(child, conditional, inside)

    find(node, False, False)
    return None if unsafe else out


def _safe_to_evaluate_early(item: cst.BaseExpression) -> bool:
    """Whether every call in a yielded item is an ``.asynq()`` call or a harmless builtin."""
    safe = True

    def visit(node: cst.CSTNode) -> bool:
        nonlocal safe
        if isinstance(node, cst.Call):
            func = node.func
            if not (
                (isinstance(func, cst.Attribute) and func.attr.value == "asynq")
                or (isinstance(func, cst.Name) and func.value in HARMLESS_BUILTINS)
            ):
                safe = False
        elif isinstance(node, (cst.NamedExpr, cst.Yield, cst.Await, cst.Lambda)):
            safe = False
        return safe

    walk(item, visit)
    return safe


def _temp_base(item: cst.BaseExpression) -> str:
    """A readable name for the value of a yielded item (``name_of_user_value``...)."""
    inner = item
    suffix = "value"
    if isinstance(item, (cst.ListComp, cst.DictComp)):
        inner = item.value if isinstance(item, cst.DictComp) else item.elt
        suffix = "values"
    if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute):
        ref = dotted_name(inner.func.value)
        if ref:
            return f"{ref[-1]}_{suffix}"
    return f"read_{suffix}"


def _fresh_name(base: str, used: set[str]) -> str:
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}_{n}"
    used.add(name)
    return name


def _newline_indent(extra: str) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(),
        empty_lines=[],
        indent=True,
        last_line=cst.SimpleWhitespace(extra),
    )


def _spread_yield(
    small: cst.BaseSmallStatement, unit: str, break_for: bool = False
) -> cst.BaseSmallStatement:
    """A long statement over several lines: the tuple of ``x = yield a, b`` one element per
    line, or a yielded or returned comprehension or display inside its own brackets (with
    ``break_for``, its ``for`` on a line of its own too); other statements are returned as
    they are."""
    value = getattr(small, "value", None)
    if value is None:
        return small
    outer = value
    if isinstance(value, cst.Yield):
        if value.value is None or isinstance(value.value, cst.From):
            return small
        value = value.value
    inner, close = _newline_indent(unit), _newline_indent("")
    spread: cst.BaseExpression
    if isinstance(value, cst.Tuple) and len(value.elements) > 1 and outer is not value:
        elements = [
            el.with_changes(comma=cst.Comma(whitespace_after=inner)) for el in value.elements
        ]
        if break_for:
            # Each batched comprehension on lines of its own too.
            deeper, back = _newline_indent(unit * 2), _newline_indent(unit)
            for i, el in enumerate(elements):
                item = el.value
                if isinstance(item, (cst.ListComp, cst.DictComp)):
                    brackets: dict[str, Any] = {
                        "for_in": item.for_in.with_changes(whitespace_before=deeper)
                    }
                    if isinstance(item, cst.ListComp):
                        brackets["lbracket"] = cst.LeftSquareBracket(whitespace_after=deeper)
                        brackets["rbracket"] = cst.RightSquareBracket(whitespace_before=back)
                    else:
                        brackets["lbrace"] = cst.LeftCurlyBrace(whitespace_after=deeper)
                        brackets["rbrace"] = cst.RightCurlyBrace(whitespace_before=back)
                    elements[i] = el.with_changes(value=item.with_changes(**brackets))
        elements[-1] = elements[-1].with_changes(comma=cst.Comma(whitespace_after=close))
        spread = value.with_changes(
            elements=elements, lpar=[cst.LeftParen(whitespace_after=inner)], rpar=[cst.RightParen()]
        )
    elif isinstance(value, (cst.ListComp, cst.SetComp, cst.DictComp, cst.List, cst.Dict)):
        changes: dict[str, Any] = {}
        if isinstance(value, (cst.ListComp, cst.SetComp, cst.DictComp)) and break_for:
            changes["for_in"] = value.for_in.with_changes(
                whitespace_before=inner,
                ifs=[if_.with_changes(whitespace_before=inner) for if_ in value.for_in.ifs],
            )
        if isinstance(value, (cst.ListComp, cst.List)):
            changes["lbracket"] = cst.LeftSquareBracket(whitespace_after=inner)
            changes["rbracket"] = cst.RightSquareBracket(whitespace_before=close)
        else:
            changes["lbrace"] = cst.LeftCurlyBrace(whitespace_after=inner)
            changes["rbrace"] = cst.RightCurlyBrace(whitespace_before=close)
        spread = value.with_changes(**changes)
    else:
        return small
    if isinstance(outer, cst.Yield):
        return small.with_changes(value=outer.with_changes(value=spread))
    return small.with_changes(value=spread)


def _assign_line(name: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(
        body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value)]
    )


def _unparen(value: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(value, cst.Yield) and value.lpar:
        return value.with_changes(lpar=[], rpar=[])
    return value


def _tuple(values: list[cst.BaseExpression]) -> cst.Tuple:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.Tuple(
        [
            cst.Element(v, comma if i < len(values) - 1 else cst.MaybeSentinel.DEFAULT)
            for i, v in enumerate(values)
        ],
        lpar=[],
        rpar=[],
    )


class _NodeReplacer(cst.CSTTransformer):
    """Replaces nodes (by identity of the original node) and keeps the identity of every
    subtree it does not change (the rewrite finds reads by identity)."""

    def __init__(self, replace: dict[int, Any]) -> None:
        super().__init__()
        self.replace = replace

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        found = self.replace.get(id(original_node))
        if found is not None:
            return found
        if updated_node is not original_node and updated_node.deep_equals(original_node):
            return original_node
        return updated_node




def _count_yields(node: cst.CSTNode) -> int:
    count = 0

    def visit(n: cst.CSTNode) -> bool:
        nonlocal count
        if isinstance(n, cst.Yield):
            count += 1
        return True

    walk(node, visit)
    return count


class _YieldReplacer(cst.CSTTransformer):
    """Replaces yields (by identity) with names."""

    def __init__(self, names: dict[int, str]) -> None:
        super().__init__()
        self.names = names

    def leave_Yield(self, original_node: cst.Yield, updated_node: cst.Yield) -> cst.BaseExpression:
        name = self.names.get(id(original_node))
        return cst.Name(name) if name is not None else updated_node


class _FunctionConverter:
    """Rewrites the body of one converted function."""

    def __init__(
        self,
        fn: cst.FunctionDef,
        read_ids: set[int],
        delete_ids: set[int],
        line_length: int = 88,
        indent: str = "    ",
    ) -> None:
        self.fn = fn
        self.read_ids = read_ids
        self.delete_ids = delete_ids
        self.line_length = line_length
        self.indent = indent
        self.depth = 0  # blocks deep inside the function
        self._untouched: set[int] = set()  # statements without reads, kept as they are
        self._names: set[str] | None = None  # every name used in fn, for fresh temporaries
        self.last_yields = 0  # yields made by the last rewrite_expr

    def _reiterable(self, items: cst.BaseExpression) -> bool:
        """Whether ``items`` can be iterated twice (read every item first, then loop): a
        parameter, or a local name only ever bound to a list, tuple, dict, set, a
        comprehension that is not a generator, a read (``x = yield ...``) or a call of
        ``list``/``tuple``/``sorted``/``set``/``dict``. Anything else is copied to a list."""
        if not isinstance(items, cst.Name):
            return False
        name = items.value
        if name in param_names(self.fn.params):
            return self._assigned_values(name) == []
        values = self._assigned_values(name)
        if values is None or not values:
            return False
        safe_calls = {"list", "tuple", "sorted", "set", "dict", "frozenset"}
        for value in values:
            if isinstance(value, (cst.List, cst.Tuple, cst.Dict, cst.Set, cst.ListComp)):
                continue
            if isinstance(value, (cst.DictComp, cst.SetComp)):
                continue
            if isinstance(value, cst.Call) and id(value) in self.read_ids:
                continue
            if (
                isinstance(value, cst.Call)
                and isinstance(value.func, cst.Name)
                and value.func.value in safe_calls
            ):
                continue
            return False
        return True

    def _assigned_values(self, name: str) -> list[cst.BaseExpression] | None:
        """The values ``name`` is assigned in the function (None: bound some other way too,
        for example by a loop or augmented assignment)."""
        values: list[cst.BaseExpression] = []
        other = False

        def visit(n: cst.CSTNode) -> bool:
            nonlocal other
            if isinstance(n, cst.Assign):
                for target in n.targets:
                    if isinstance(target.target, cst.Name) and target.target.value == name:
                        values.append(n.value)
                    elif name in target_names(target.target):
                        other = True
            elif isinstance(n, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor)):
                if name in target_names(n.target):
                    other = True
            elif isinstance(n, (cst.NamedExpr, cst.AsName)) and name in target_names(
                n.target if isinstance(n, cst.NamedExpr) else n.name
            ):
                other = True
            return not isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) or (
                n is self.fn
            )

        walk(self.fn, visit)
        return None if other else values

    def _reads_in(self, node: cst.CSTNode) -> bool:
        """Whether ``node`` contains a read to rewrite."""
        read_ids = self.read_ids
        found = False

        def visit(n: cst.CSTNode) -> bool:
            nonlocal found
            if id(n) in read_ids:
                found = True
            return not found

        walk(node, visit)
        return found

    def rewrite_expr(self, node: cst.CSTNodeT) -> cst.CSTNodeT:
        rewriter = _ReadRewriter(self.read_ids)
        result = node.visit(rewriter)
        self.last_yields = rewriter.yields
        return result  # type: ignore[return-value]

    def remove_primes(self, node: cst.BaseStatement) -> cst.BaseStatement | None:
        result = node.visit(_PrimeRemover(self.delete_ids, None))
        return result if isinstance(result, cst.BaseStatement) else None

    def convert(self) -> cst.FunctionDef:
        decorator = cst.Decorator(decorator=cst.Call(func=cst.Name("asynq")))
        body = self.suite(self.fn.body)
        return self.fn.with_changes(decorators=[decorator, *self.fn.decorators], body=body)

    def suite(self, suite: cst.BaseSuite) -> cst.BaseSuite:
        if isinstance(suite, cst.IndentedBlock):
            stmts = self.block(list(suite.body))
            return suite.with_changes(body=stmts or [_pass_line()])
        assert isinstance(suite, cst.SimpleStatementSuite)
        kept = [
            _strip_yield_parens(self.rewrite_expr(s))
            for s in suite.body
            if not (isinstance(s, cst.Expr) and id(s.value) in self.delete_ids)
        ]
        return suite.with_changes(body=_fix_semicolons(kept) or [cst.Pass()])

    def block(self, stmts: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        self.depth += 1
        try:
            return self._block(stmts)
        finally:
            self.depth -= 1

    def _too_long(self, node: cst.CSTNode) -> bool:
        code = cst.Module(body=[], default_indent=self.indent).code_for_node(node)
        width = len(self.indent) * self.depth
        return any(width + len(line) > self.line_length for line in code.splitlines())

    def fit(self, line: cst.SimpleStatementLine) -> list[cst.SimpleStatementLine]:
        """Keep a rewritten line within the configured length: name the values it reads
        first, then spread a long yielded tuple or comprehension over several lines."""
        if not self._too_long(line) or len(line.body) != 1:
            return [line]
        out: list[cst.SimpleStatementLine] = []
        small = line.body[0]
        value = getattr(small, "value", None)
        top_level_read = isinstance(value, cst.Yield) and not _contains_yield(
            value.value if value.value is not None else cst.Name("x")
        )
        if not top_level_read:
            hoisted = self.hoist(small, minimum=1)
            if hoisted is not None:
                prefix, small = hoisted
                out.append(prefix.with_changes(leading_lines=line.leading_lines))
                line = line.with_changes(body=[small], leading_lines=[])
        out.append(line)
        fitted = []
        for each in out:
            if self._too_long(each):
                spread = each.with_changes(body=[_spread_yield(each.body[0], self.indent)])
                if self._too_long(spread):
                    spread = each.with_changes(
                        body=[_spread_yield(each.body[0], self.indent, break_for=True)]
                    )
                each = spread
            fitted.append(each)
        return fitted

    def _block(self, stmts: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in stmts:
            if isinstance(stmt, cst.SimpleStatementLine):
                kept = [
                    s
                    for s in stmt.body
                    if not (isinstance(s, cst.Expr) and id(s.value) in self.delete_ids)
                ]
                if not kept:
                    continue
                if len(kept) == len(stmt.body) and not self._reads_in(stmt):
                    out.append(stmt)  # nothing to rewrite: left exactly as written
                    self._untouched.add(id(stmt))
                    continue
                if len(kept) == 1:
                    phased, only = self.two_phase(kept[0])
                    if phased:
                        phased[0] = phased[0].with_changes(leading_lines=stmt.leading_lines)
                        out.extend(phased)
                        stmt = stmt.with_changes(leading_lines=[])
                        kept = [only]
                new_body = [_strip_yield_parens(self.rewrite_expr(s)) for s in kept]
                if len(new_body) == 1:
                    prefixes, small = self.unnest(new_body[0])
                    if prefixes:
                        prefixes[0] = prefixes[0].with_changes(leading_lines=stmt.leading_lines)
                        out.extend(prefixes)
                        stmt = stmt.with_changes(leading_lines=[])
                        new_body = [small]
                        self.last_yields = _count_yields(small)
                line = stmt.with_changes(body=_fix_semicolons(new_body))
                if len(new_body) == 1 and self.last_yields >= 2:
                    hoisted = self.hoist(new_body[0])
                    if hoisted is not None:
                        prefix, small = hoisted
                        out.append(prefix.with_changes(leading_lines=stmt.leading_lines))
                        line = line.with_changes(body=[small], leading_lines=[])
                out.append(line)  # fitted to the line length at the end of the block
            elif isinstance(stmt, cst.For):
                self.for_loop(stmt, out)
            elif isinstance(stmt, cst.If):
                new_if = self.if_stmt(stmt)
                test_yields = _ReadRewriter(self.read_ids)
                stmt.test.visit(test_yields)
                hoisted_test = self.hoist(new_if.test) if test_yields.yields >= 2 else None
                if hoisted_test is not None:
                    prefix, test = hoisted_test
                    out.append(prefix.with_changes(leading_lines=new_if.leading_lines))
                    new_if = new_if.with_changes(test=test, leading_lines=[])
                out.append(new_if)
            elif isinstance(stmt, cst.Try):
                out.append(
                    stmt.with_changes(
                        body=self.suite(stmt.body),
                        handlers=[h.with_changes(body=self.suite(h.body)) for h in stmt.handlers],
                        orelse=stmt.orelse.with_changes(body=self.suite(stmt.orelse.body))
                        if stmt.orelse is not None
                        else None,
                        finalbody=stmt.finalbody.with_changes(body=self.suite(stmt.finalbody.body))
                        if stmt.finalbody is not None
                        else None,
                    )
                )
            else:  # while, with, match, nested definitions: no reads, maybe primes
                kept_stmt = self.remove_primes(stmt)
                if kept_stmt is not None:
                    out.append(kept_stmt)
        fitted: list[cst.BaseStatement] = []
        for each in _group_reads(self.read_ahead(out)):
            if isinstance(each, cst.SimpleStatementLine) and id(each) not in self._untouched:
                fitted.extend(self.fit(each))
            else:
                fitted.append(each)
        return fitted

    def read_ahead(self, stmts: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        """A statement right after ``x = yield ...`` whose reads do not need ``x`` has them
        read first, under names, so that they join that yield (independent reads share one
        round, as they did when their twin primed them together)."""
        out: list[cst.BaseStatement] = []
        for stmt in stmts:
            assigned: set[str] = set()
            for previous in reversed(out):
                member = _read_member(previous)
                if member is None:
                    break
                assigned |= member.assigned
            if (
                assigned
                and isinstance(stmt, cst.SimpleStatementLine)
                and len(stmt.body) == 1
                and _read_member(stmt) is None
            ):
                found: list[cst.Yield] = []
                small = stmt.body[0]
                if _collect_unconditional_yields(small, False, found):
                    ready = [
                        y
                        for y in found
                        if y.value is not None
                        and not isinstance(y.value, cst.From)
                        and _safe_to_evaluate_early(y.value)
                        and not any(name_counts(y.value)[n] for n in assigned)
                    ]
                    if ready:
                        temps, named = self._name_yields(ready)
                        out.extend(named)
                        replaced: Any = small.visit(_YieldReplacer(temps))
                        stmt = stmt.with_changes(body=[_strip_yield_parens(replaced)])
            out.append(stmt)
        return out

    def _name_yields(
        self, yields: list[cst.Yield]
    ) -> tuple[dict[int, str], list[cst.SimpleStatementLine]]:
        """A ``name = yield <value>`` statement for each of ``yields``, with fresh names, and
        those names by ``id`` of each yield (for ``_YieldReplacer``)."""
        if self._names is None:
            self._names = set(name_counts(self.fn))
        temps: dict[int, str] = {}
        out: list[cst.SimpleStatementLine] = []
        for y in yields:
            assert y.value is not None and not isinstance(y.value, cst.From)
            name = _fresh_name(_temp_base(y.value), self._names)
            temps[id(y)] = name
            out.append(
                cst.SimpleStatementLine(
                    body=[
                        cst.Assign(
                            targets=[cst.AssignTarget(cst.Name(name))],
                            value=cst.Yield(y.value),
                        )
                    ]
                )
            )
        return temps, out

    def two_phase(
        self, small: cst.BaseSmallStatement
    ) -> tuple[list[cst.SimpleStatementLine], cst.BaseSmallStatement]:
        """Comprehensions whose condition (or, without one, whose element) reads cached
        values: read them for every item first, in one batched yield per read, then run the
        comprehension over the values (``for x, f_value in zip(xs, f_values)``)."""
        comps: list[cst.CSTNode] = []

        def find(node: cst.CSTNode) -> bool:
            if isinstance(node, cst.Lambda):
                return False
            if isinstance(node, _CONDITIONAL_INSIDE):
                if any(id(c) in self.read_ids for c in two_phase_calls(node)):
                    comps.append(node)
                return False  # not inside another comprehension
            return True

        sorts: list[cst.Call] = []

        def find_sorts(node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.Lambda, *_CONDITIONAL_INSIDE)):
                return False
            if isinstance(node, cst.Call):
                found = sort_key_reads(node)
                if found is not None and any(id(c) in self.read_ids for c in found[2]):
                    sorts.append(node)
            return True

        walk(small, lambda n: find(n) and find_sorts(n))
        if not comps and not sorts:
            return [], small
        if self._names is None:
            self._names = set(name_counts(self.fn))
        prefixes: list[cst.SimpleStatementLine] = []
        new_comps: dict[int, cst.CSTNode] = {}
        for comp in comps:
            assert isinstance(comp, _CONDITIONAL_INSIDE)
            reads = [c for c in two_phase_calls(comp) if id(c) in self.read_ids]
            target = comp.for_in.target
            assert isinstance(target, cst.Name)
            items: cst.BaseExpression = comp.for_in.iter
            filtered = plain_filter(comp)
            if filtered:
                # The condition calls nothing: filter the items first, read for those.
                name = _fresh_name(f"{target.value}_items", self._names)
                keep = cst.ListComp(
                    elt=target,
                    for_in=cst.CompFor(
                        target=target,
                        iter=self.rewrite_expr(items),
                        ifs=[cst.CompIf(test=if_.test) for if_ in comp.for_in.ifs],
                    ),
                )
                prefixes.append(_assign_line(name, keep))
                items = cst.Name(name)
            elif not self._reiterable(items):
                name = _fresh_name(f"{target.value}_items", self._names)
                value = self.rewrite_expr(items)
                if not (isinstance(value, cst.Yield) or _contains_yield(value)):
                    value = cst.Call(func=cst.Name("list"), args=[cst.Arg(value)])
                prefixes.append(_assign_line(name, _unparen(value)))
                items = cst.Name(name)
            replace: dict[int, cst.BaseExpression] = {}
            targets: list[cst.BaseExpression] = [target]
            iterables: list[cst.BaseExpression] = [items]
            for call in reads:
                base = _temp_base(call.with_changes(func=cst.Attribute(call.func, cst.Name("asynq"))))
                values = _fresh_name(base.replace("_value", "_values"), self._names)
                each = _fresh_name(base, self._names)
                batch = cst.ListComp(
                    elt=call.with_changes(func=cst.Attribute(call.func, cst.Name("asynq"))),
                    for_in=cst.CompFor(target=target, iter=items),
                )
                prefixes.append(_assign_line(values, cst.Yield(batch)))
                replace[id(call)] = cst.Name(each)
                targets.append(cst.Name(each))
                iterables.append(cst.Name(values))
            replaced: Any = comp.visit(_NodeReplacer(replace))
            for_in = replaced.for_in.with_changes(
                target=_tuple(targets),
                iter=cst.Call(func=cst.Name("zip"), args=[cst.Arg(v) for v in iterables]),
            )
            if filtered:
                for_in = for_in.with_changes(ifs=[])
            new_comps[id(comp)] = replaced.with_changes(for_in=for_in)
        replace_reads: dict[int, Any] = {}
        for call in sorts:
            found = sort_key_reads(call)
            assert found is not None
            key, items, calls = found
            param = key.params.params[0].name
            if isinstance(call.func, cst.Name) and not self._reiterable(items):
                # sorted/min/max over something that may be a one-shot iterator: copy it.
                copy = _fresh_name(f"{param.value}_items", self._names)
                prefixes.append(
                    _assign_line(copy, cst.Call(func=cst.Name("list"), args=[cst.Arg(items)]))
                )
                first = next(a for a in call.args if a.keyword is None)
                new_comps[id(first.value)] = cst.Name(copy)
                items = cst.Name(copy)
            for read in calls:
                if id(read) not in self.read_ids:
                    continue
                args = [a.value for a in read.args]
                dict_key: cst.BaseExpression = args[0] if len(args) == 1 else _tuple(args)
                if len(args) != 1:
                    dict_key = dict_key.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
                base = _temp_base(read.with_changes(func=cst.Attribute(read.func, cst.Name("asynq"))))
                values = _fresh_name(base.replace("_value", "_values"), self._names)
                sort_batch = cst.DictComp(
                    key=dict_key,
                    value=read.with_changes(func=cst.Attribute(read.func, cst.Name("asynq"))),
                    for_in=cst.CompFor(target=param, iter=items),
                )
                prefixes.append(_assign_line(values, cst.Yield(sort_batch)))
                replace_reads[id(read)] = cst.Subscript(
                    value=cst.Name(values),
                    slice=[cst.SubscriptElement(slice=cst.Index(value=dict_key))],
                )
        if replace_reads:
            new_comps.update(replace_reads)
        result = small.visit(_NodeReplacer(new_comps))
        assert isinstance(result, cst.BaseSmallStatement)
        return prefixes, result

    def unnest(
        self, small: cst.BaseSmallStatement
    ) -> tuple[list[cst.SimpleStatementLine], cst.BaseSmallStatement]:
        """No yield inside another yield: a read whose value another read needs is read into
        a name first (``ids = yield f.asynq(x)``), innermost first."""
        prefixes: list[cst.SimpleStatementLine] = []
        for _ in range(10):
            found = _nested_yields(small)
            if not found:
                break
            temps, named = self._name_yields(found)
            prefixes.extend(named)
            small = _strip_yield_parens(small.visit(_YieldReplacer(temps)))  # type: ignore[arg-type]
        return prefixes, small

    def hoist(self, node: _N, minimum: int = 2) -> tuple[cst.SimpleStatementLine, _N] | None:
        """Move two or more independent yields out of one statement or test into a single
        tuple yield before it: ``return (yield f.asynq(x)) + (yield g.asynq(y))`` becomes
        ``f_value, g_value = yield f.asynq(x), g.asynq(y)`` then ``return f_value + g_value``,
        so the reads stay in one round, as priming had them.

        Only yields evaluated unconditionally (not in a branch of ``if``/``else``, ``and``/
        ``or``, a chained comparison or a comprehension) whose arguments call nothing but
        ``.asynq`` and harmless builtins are moved; None when there is nothing to gain.
        """
        found: list[cst.Yield] = []
        if not _collect_unconditional_yields(node, False, found) or len(found) < minimum:
            return None
        if not all(
            _safe_to_evaluate_early(y.value)
            for y in found
            if y.value is not None and not isinstance(y.value, cst.From)
        ):
            return None
        if self._names is None:
            self._names = set(name_counts(self.fn))
        temps: dict[int, str] = {}
        members: list[tuple[cst.Name, cst.BaseExpression]] = []
        for y in found:
            assert y.value is not None and not isinstance(y.value, cst.From)
            name = _fresh_name(_temp_base(y.value), self._names)
            temps[id(y)] = name
            members.append((cst.Name(name), y.value))
        replaced: Any = node.visit(_YieldReplacer(temps))
        if isinstance(replaced, cst.BaseSmallStatement):
            replaced = _strip_yield_parens(replaced)
        n = len(members)
        comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        targets = cst.Tuple(
            [
                cst.Element(t, comma if i < n - 1 else cst.MaybeSentinel.DEFAULT)
                for i, (t, _) in enumerate(members)
            ],
            lpar=[],
            rpar=[],
        )
        items = cst.Tuple(
            [
                cst.Element(_parenthesized(v), comma if i < n - 1 else cst.MaybeSentinel.DEFAULT)
                for i, (_, v) in enumerate(members)
            ],
            lpar=[],
            rpar=[],
        )
        if n == 1:
            prefix = cst.SimpleStatementLine(
                body=[
                    cst.Assign(
                        targets=[cst.AssignTarget(members[0][0])], value=cst.Yield(members[0][1])
                    )
                ]
            )
        else:
            prefix = cst.SimpleStatementLine(
                body=[cst.Assign(targets=[cst.AssignTarget(targets)], value=cst.Yield(items))]
            )
        return prefix, replaced

    def if_stmt(self, stmt: cst.If) -> cst.If:
        orelse: cst.If | cst.Else | None = stmt.orelse
        if isinstance(orelse, cst.If):
            orelse = self.if_stmt(orelse)
        elif isinstance(orelse, cst.Else):
            orelse = orelse.with_changes(body=self.suite(orelse.body))
        return stmt.with_changes(
            test=self.rewrite_expr(stmt.test), body=self.suite(stmt.body), orelse=orelse
        )

    def for_loop(self, stmt: cst.For, out: list[cst.BaseStatement]) -> None:
        loop = match_collect_loop(stmt, self.fn)
        rewriter = _ReadRewriter(self.read_ids)
        if loop is not None and rewriter.is_pure_read(loop.value):
            self.collect_loop(stmt, loop, out)
            return
        if loop is None:
            stmt = self.hoist_loop(stmt, out)
        if isinstance(stmt.body, cst.IndentedBlock):
            stmts = self.block(list(stmt.body.body))
            if not stmts and stmt.orelse is None:
                return  # the loop only primed: drop it
            body: cst.BaseSuite = stmt.body.with_changes(body=stmts or [_pass_line()])
        else:
            body = self.suite(stmt.body)
        orelse = (
            stmt.orelse.with_changes(body=self.suite(stmt.orelse.body)) if stmt.orelse else None
        )
        out.append(stmt.with_changes(iter=self.rewrite_expr(stmt.iter), body=body, orelse=orelse))

    def hoist_loop(self, stmt: cst.For, out: list[cst.BaseStatement]) -> cst.For:
        """Reads every iteration makes, with arguments known before the loop: made for every
        item first, one batched yield per read, and the loop runs over
        ``zip(items, values)`` (see ``hoistable_loop_calls``)."""
        reads = [c for c in hoistable_loop_calls(stmt) if id(c) in self.read_ids]
        if not reads:
            return stmt
        if self._names is None:
            self._names = set(name_counts(self.fn))
        target = stmt.target
        assert isinstance(target, cst.Name)
        items: cst.BaseExpression = stmt.iter
        leading = list(stmt.leading_lines)
        if not self._reiterable(items):
            name = _fresh_name(f"{target.value}_items", self._names)
            value = self.rewrite_expr(items)
            if not (isinstance(value, cst.Yield) or _contains_yield(value)):
                value = cst.Call(func=cst.Name("list"), args=[cst.Arg(value)])
            out.append(_assign_line(name, _unparen(value)).with_changes(leading_lines=leading))
            leading = []
            items = cst.Name(name)
        replace: dict[int, Any] = {}
        targets: list[cst.BaseExpression] = [target]
        iterables: list[cst.BaseExpression] = [items]
        for call in reads:
            base = _temp_base(call.with_changes(func=cst.Attribute(call.func, cst.Name("asynq"))))
            values = _fresh_name(base.replace("_value", "_values"), self._names)
            each = _fresh_name(base, self._names)
            batch = cst.ListComp(
                elt=call.with_changes(func=cst.Attribute(call.func, cst.Name("asynq"))),
                for_in=cst.CompFor(target=target, iter=items),
            )
            out.append(_assign_line(values, cst.Yield(batch)).with_changes(leading_lines=leading))
            leading = []
            replace[id(call)] = cst.Name(each)
            targets.append(cst.Name(each))
            iterables.append(cst.Name(values))
        body: Any = stmt.body.visit(_NodeReplacer(replace))
        target_tuple = _tuple(targets)
        zipped = cst.Call(func=cst.Name("zip"), args=[cst.Arg(v) for v in iterables])
        render = cst.Module(body=[]).code_for_node
        header = f"for {render(target_tuple)} in {render(zipped)}:"
        if len(self.indent) * self.depth + len(header) > self.line_length:
            args = list(zipped.args)
            args[-1] = args[-1].with_changes(whitespace_after_arg=_newline_indent(""))
            zipped = zipped.with_changes(
                args=args, whitespace_before_args=_newline_indent(self.indent)
            )
        return stmt.with_changes(
            target=target_tuple, iter=zipped, body=body, leading_lines=[]
        )

    def collect_loop(self, stmt: cst.For, loop: CollectLoop, out: list[cst.BaseStatement]) -> None:
        value = loop.value.with_changes(
            func=cst.Attribute(value=loop.value.func, attr=cst.Name("asynq"))
        )
        for_in = cst.CompFor(
            target=stmt.target,
            iter=self.rewrite_expr(stmt.iter),
            ifs=[cst.CompIf(test=loop.condition)] if loop.condition is not None else [],
        )
        comp: cst.BaseExpression
        if loop.kind == "append":
            comp = cst.ListComp(elt=value, for_in=for_in)
            empty_type: type[cst.CSTNode] = cst.List
            method = "extend"
        else:
            assert loop.key is not None
            comp = cst.DictComp(key=loop.key, value=value, for_in=for_in)
            empty_type = cst.Dict
            method = "update"
        previous = out[-1] if out else None
        if (
            isinstance(previous, cst.SimpleStatementLine)
            and len(previous.body) == 1
            and isinstance(previous.body[0], cst.Assign)
            and len(previous.body[0].targets) == 1
            and dotted_name(previous.body[0].targets[0].target) == (loop.container,)
            and isinstance(previous.body[0].value, empty_type)
            and not getattr(previous.body[0].value, "elements", True)
        ):
            assign = previous.body[0].with_changes(value=cst.Yield(value=comp))
            out[-1] = previous.with_changes(
                body=[assign], leading_lines=[*previous.leading_lines, *stmt.leading_lines]
            )
            return
        call = cst.Call(
            func=cst.Attribute(value=cst.Name(loop.container), attr=cst.Name(method)),
            args=[cst.Arg(_paren_yield(comp))],
        )
        out.append(cst.SimpleStatementLine(body=[cst.Expr(call)], leading_lines=stmt.leading_lines))


def _convert_methods(
    cls: cst.ClassDef, plan: FilePlan, config: MigrateConfig, indent: str
) -> cst.ClassDef:
    """The class with its converted methods rewritten as ``@asynq()`` methods."""
    assert isinstance(cls.body, cst.IndentedBlock)
    last = {
        item.name.value: i
        for i, item in enumerate(cls.body.body)
        if isinstance(item, cst.FunctionDef)
    }
    body = list(cls.body.body)
    for (name, method), ordinals in plan.converted_methods.items():
        if name != cls.name.value or method not in last:
            continue
        fn = body[last[method]]
        assert isinstance(fn, cst.FunctionDef)
        analyzer = analyze_method(fn, config, keep_nodes=True, self_class=name)
        read_ids = {id(analyzer.sites[o].node) for o in ordinals}
        converter = _FunctionConverter(fn, read_ids, set(), config.line_length, indent)
        converter.depth = 1
        if (name, method) not in plan.properties:
            body[last[method]] = converter.convert()
            continue
        # A property cannot yield: it delegates to a new @asynq() method that can.
        getter = f"get_{method}"
        converted = converter.convert()
        new_method = converted.with_changes(
            name=cst.Name(getter),
            decorators=[d for d in converted.decorators if not _is_property(d)],
            leading_lines=[cst.EmptyLine(indent=False)],
        )
        call = cst.Call(func=cst.Attribute(value=cst.Name("self"), attr=cst.Name(getter)))
        delegate = cst.SimpleStatementLine(body=[cst.Return(value=call)])
        assert isinstance(fn.body, cst.IndentedBlock)
        doc = [s for s in fn.body.body[:1] if _is_docstring_or_future(s)]
        body[last[method]] = fn.with_changes(body=fn.body.with_changes(body=[*doc, delegate]))
        body.insert(last[method] + 1, new_method)
        last = {
            item.name.value: i
            for i, item in enumerate(body)
            if isinstance(item, cst.FunctionDef)
        }
    return cls.with_changes(body=cls.body.with_changes(body=body))


def _is_property(dec: cst.Decorator) -> bool:
    return isinstance(dec.decorator, cst.Name) and dec.decorator.value == "property"


def _drop_from_all(stmt: cst.BaseStatement, names: set[str]) -> cst.BaseStatement:
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


def _binding_name(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None:
        names = target_names(alias.asname.name)
        return next(iter(names)) if names else None
    ref = dotted_name(alias.name)
    return ref[0] if ref else None


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
        kept = [a for a in node.names if _binding_name(a) not in self.removable]
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
        return updated_node.with_changes(body=_fix_semicolons(updated_node.body))


def _is_docstring_or_future(stmt: cst.BaseStatement) -> bool:
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


def _add_asynq_import(module: cst.Module, local_roots: frozenset[str] = frozenset()) -> cst.Module:
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
        if _is_docstring_or_future(stmt) or _is_import(stmt):
            header_end = i + 1
        else:
            break
    imports = [
        (i, _import_section(stmt, local_roots))
        for i, stmt in enumerate(body[:header_end])
        if _is_import(stmt) and not _is_docstring_or_future(stmt)
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
    noter = _LoopNoter(delete_ids, labels)
    remover = _PrimeRemover(delete_ids, noter)
    filler = _EmptyBlockFiller()
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
                read_ids = {id(site(unit_index, o).node) for o in plan.converted[unit_index]}
                converter = _FunctionConverter(
                    stmt, read_ids, delete_ids, config.line_length, module.default_indent
                )
                add(converter.convert(), stmt)
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
            add(_convert_methods(stmt, plan, config, module.default_indent), stmt)
        else:
            add(stmt, stmt)

    deleted_names = set(plan.delete_aliases)
    deleted_names |= {
        stmt.name.value
        for index, stmt in enumerate(s for s in module.body if isinstance(s, cst.FunctionDef))
        if index + 1 in plan.delete_units
    }
    if deleted_names:
        new_body = [_drop_from_all(stmt, deleted_names) for stmt in new_body]
    new_module = module.with_changes(body=new_body)
    if plan.removable_imports:
        unused = plan.removable_imports - _used_names(new_module)
        if unused:
            new_module = _clean_imports(new_module, unused)
    if plan.add_asynq_import:
        new_module = _add_asynq_import(new_module, plan.local_roots)
    code = new_module.code

    refusals = [dataclasses.replace(r) for r in plan.refusals]
    kept = [dataclasses.replace(k) for k in plan.kept]
    notes: list[Note] = []
    if refusals or noter.loops or kept:
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


def _used_names(module: cst.Module) -> set[str]:
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


def _clean_imports(module: cst.Module, unused: set[str]) -> cst.Module:
    cleaner = _ImportCleaner(unused)
    body: list[cst.BaseStatement] = []
    blank_lines: Sequence[cst.EmptyLine] = ()
    for stmt in module.body:
        if _is_import(stmt) or isinstance(stmt, (cst.If, cst.Try)):
            result = stmt.visit(cleaner)
            if isinstance(result, (cst.If, cst.Try)):
                result = result.visit(_EmptyBlockFiller())
            if not isinstance(result, cst.BaseStatement):
                # Keep the blank lines that separated the removed import from what precedes.
                lines: Sequence[cst.EmptyLine] = getattr(stmt, "leading_lines", ())
                blank_lines = blank_lines or [line for line in lines if line.comment is None]
                continue
            stmt = result
        if blank_lines and not getattr(stmt, "leading_lines", True):
            stmt = stmt.with_changes(leading_lines=blank_lines)
        blank_lines = ()
        body.append(stmt)
    return module.with_changes(body=body)


def _find_method(module: cst.Module, cls: str, method: str) -> tuple[int, cst.CSTNode] | None:
    for index, stmt in enumerate(module.body):
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == cls:
            for inner in stmt.body.body:
                if isinstance(inner, cst.FunctionDef) and inner.name.value == method:
                    return index, inner.name
    return None


def transform_source(
    path: str, source: str, plan: FilePlan, config: MigrateConfig
) -> TransformOutput:
    """Parse ``source`` and rewrite it according to ``plan``."""
    return transform_module(path, cst.parse_module(source), plan, config, source)

"""Turning reads into yields: batching reads into one yield, naming fetched values,
spreading long yields over lines."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import libcst as cst

from ._cst import (
    HARMLESS_BUILTINS,
    child_nodes,
    consumed_genexp,
    dotted_name,
    has_call,
    name_counts,
    target_names,
    walk,
)


def paren_yield(value: cst.BaseExpression) -> cst.Yield:
    return cst.Yield(value=value, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


class ReadRewriter(cst.CSTTransformer):
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
        return paren_yield(call)

    def leave_ListComp(
        self, original_node: cst.ListComp, updated_node: cst.ListComp
    ) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return paren_yield(updated_node.with_changes(lpar=[], rpar=[]))
        return updated_node

    def leave_DictComp(
        self, original_node: cst.DictComp, updated_node: cst.DictComp
    ) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return paren_yield(updated_node.with_changes(lpar=[], rpar=[]))
        return updated_node

    def leave_SetComp(
        self, original_node: cst.SetComp, updated_node: cst.SetComp
    ) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            as_list = cst.ListComp(elt=updated_node.elt, for_in=updated_node.for_in)
            return cst.Call(func=cst.Name("set"), args=[cst.Arg(paren_yield(as_list))])
        return updated_node

    def leave_GeneratorExp(
        self, original_node: cst.GeneratorExp, updated_node: cst.GeneratorExp
    ) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return paren_yield(cst.ListComp(elt=updated_node.elt, for_in=updated_node.for_in))
        return updated_node

    def leave_List(self, original_node: cst.List, updated_node: cst.List) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return paren_yield(updated_node.with_changes(lpar=[], rpar=[]))
        return updated_node

    def leave_Tuple(self, original_node: cst.Tuple, updated_node: cst.Tuple) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return paren_yield(updated_node)
        return updated_node

    def leave_Dict(self, original_node: cst.Dict, updated_node: cst.Dict) -> cst.BaseExpression:
        if id(original_node) in self._batched:
            self.yields += 1
            return paren_yield(updated_node.with_changes(lpar=[], rpar=[]))
        return updated_node


def strip_yield_parens(small: cst.BaseSmallStatement) -> cst.BaseSmallStatement:
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


def read_member(stmt: cst.BaseStatement) -> _Member | None:
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
    if contains_yield(item):
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


def contains_yield(node: cst.CSTNode) -> bool:
    found = False

    def visit(n: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(n, (cst.Yield, cst.Await)):
            found = True
        return not found

    walk(node, visit)
    return found


def parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
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
        elements=[element(parenthesized(m.target), i == n - 1) for i, m in enumerate(members)],
        lpar=[],
        rpar=[],
    )
    items = cst.Tuple(
        elements=[element(parenthesized(m.item), i == n - 1) for i, m in enumerate(members)],
        lpar=[],
        rpar=[],
    )
    assign = cst.Assign(targets=[cst.AssignTarget(target=targets)], value=cst.Yield(value=items))
    return members[-1].stmt.with_changes(body=[assign], leading_lines=leading)


def group_reads(stmts: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
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
        member = read_member(stmt)
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


NodeT = TypeVar("NodeT", bound=cst.CSTNode)

#: Builtins that may run a little earlier than written without anyone noticing.
CONDITIONAL_INSIDE = (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)


def collect_unconditional_yields(
    node: cst.CSTNode, conditional: bool, out: list[cst.Yield]
) -> bool:
    """Collect the yields of ``node`` that always run, in order; False if hoisting is unsafe
    (an assignment expression, a lambda, a nested yield...)."""
    if isinstance(node, cst.Yield):
        if node.value is None or isinstance(node.value, cst.From) or contains_yield(node.value):
            return False
        if not conditional:
            out.append(node)
        return True
    if isinstance(node, (cst.NamedExpr, cst.Lambda, cst.Await)):
        return False
    if isinstance(node, cst.IfExp):
        return (
            collect_unconditional_yields(node.test, conditional, out)
            and collect_unconditional_yields(node.body, True, out)
            and collect_unconditional_yields(node.orelse, True, out)
        )
    if isinstance(node, cst.BooleanOperation):
        return collect_unconditional_yields(
            node.left, conditional, out
        ) and collect_unconditional_yields(node.right, True, out)
    if isinstance(node, cst.Comparison):
        ok = collect_unconditional_yields(node.left, conditional, out)
        for i, target in enumerate(node.comparisons):
            ok = ok and collect_unconditional_yields(target.comparator, conditional or i > 0, out)
        return ok
    if isinstance(node, CONDITIONAL_INSIDE):
        ok = collect_unconditional_yields(node.for_in.iter, conditional, out)
        return ok and all(
            collect_unconditional_yields(child, True, out)
            for child in child_nodes(node)
            if child is not node.for_in
        )
    return all(collect_unconditional_yields(c, conditional, out) for c in child_nodes(node))


def nested_yields(node: cst.CSTNode) -> list[cst.Yield] | None:
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
            if not contains_yield(n.value):
                if inside and not conditional and safe_to_evaluate_early(n.value):
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
        if isinstance(n, CONDITIONAL_INSIDE):
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


def safe_to_evaluate_early(item: cst.BaseExpression) -> bool:
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


def temp_base(item: cst.BaseExpression) -> str:
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


def fresh_name(base: str, used: set[str]) -> str:
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}_{n}"
    used.add(name)
    return name


def newline_indent(extra: str) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(),
        empty_lines=[],
        indent=True,
        last_line=cst.SimpleWhitespace(extra),
    )


def spread_header(
    targets: cst.Tuple, zipped: cst.Call, indent: str
) -> tuple[cst.Tuple, cst.Call]:
    """``for a, b in zip(xs, ys):`` over several lines: each name and each iterable on a
    line of its own, with a trailing comma, the names in parentheses."""
    inner, close = newline_indent(indent), newline_indent("")
    comma = cst.Comma(whitespace_after=inner)
    elements = [el.with_changes(comma=comma) for el in targets.elements]
    elements[-1] = elements[-1].with_changes(comma=cst.Comma(whitespace_after=close))
    spread_targets = targets.with_changes(
        elements=elements,
        lpar=[cst.LeftParen(whitespace_after=inner)],
        rpar=[cst.RightParen()],
    )
    args = [
        a.with_changes(comma=comma, whitespace_after_arg=cst.SimpleWhitespace(""))
        for a in zipped.args
    ]
    args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=close))
    return spread_targets, zipped.with_changes(args=args, whitespace_before_args=inner)


def spread_yield(
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
    inner, close = newline_indent(unit), newline_indent("")
    spread: cst.BaseExpression
    if isinstance(value, cst.Tuple) and len(value.elements) > 1 and outer is not value:
        elements = [
            el.with_changes(comma=cst.Comma(whitespace_after=inner)) for el in value.elements
        ]
        if break_for:
            # Each batched comprehension on lines of its own too.
            deeper, back = newline_indent(unit * 2), newline_indent(unit)
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


def assign_line(name: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(
        body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value)]
    )


def unparen(value: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(value, cst.Yield) and value.lpar:
        return value.with_changes(lpar=[], rpar=[])
    return value


def tuple_node(values: list[cst.BaseExpression]) -> cst.Tuple:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.Tuple(
        [
            cst.Element(v, comma if i < len(values) - 1 else cst.MaybeSentinel.DEFAULT)
            for i, v in enumerate(values)
        ],
        lpar=[],
        rpar=[],
    )


class NodeReplacer(cst.CSTTransformer):
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


def count_yields(node: cst.CSTNode) -> int:
    count = 0

    def visit(n: cst.CSTNode) -> bool:
        nonlocal count
        if isinstance(n, cst.Yield):
            count += 1
        return True

    walk(node, visit)
    return count


class YieldReplacer(cst.CSTTransformer):
    """Replaces yields (by identity) with names."""

    def __init__(self, names: dict[int, str]) -> None:
        super().__init__()
        self.names = names

    def leave_Yield(self, original_node: cst.Yield, updated_node: cst.Yield) -> cst.BaseExpression:
        name = self.names.get(id(original_node))
        return cst.Name(name) if name is not None else updated_node


def spread_targets(small: cst.BaseSmallStatement, unit: str) -> cst.BaseSmallStatement:
    """``a, b, c = ...`` with its targets one per line inside parentheses (for a merged
    yield whose names alone make the line too long)."""
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return small
    target = small.targets[0].target
    if not isinstance(target, cst.Tuple) or len(target.elements) < 2 or target.lpar:
        return small
    inner, close = newline_indent(unit), newline_indent("")
    elements = [el.with_changes(comma=cst.Comma(whitespace_after=inner)) for el in target.elements]
    elements[-1] = elements[-1].with_changes(comma=cst.Comma(whitespace_after=close))
    spread = target.with_changes(
        elements=elements, lpar=[cst.LeftParen(whitespace_after=inner)], rpar=[cst.RightParen()]
    )
    return small.with_changes(targets=[small.targets[0].with_changes(target=spread)])


_SPREADABLE = (cst.ListComp, cst.SetComp, cst.DictComp)


def spread_long_comprehensions(
    small: cst.BaseSmallStatement, unit: str, too_long: Callable[[str], bool]
) -> cst.BaseSmallStatement:
    """In a statement over several lines, a comprehension on a line that ``too_long`` finds
    too long gets its ``for`` on a line of its own: inside brackets of its own when it was
    on one line, else at the indentation of its element."""
    render = cst.Module(body=[], default_indent=unit).code_for_node
    code = render(small)
    long_lines = [line for line in code.splitlines() if too_long(line)]
    if not long_lines:
        return small
    replace: dict[int, cst.CSTNode] = {}

    def visit(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Lambda):
            return False
        if not isinstance(node, _SPREADABLE):
            return True
        text = render(node)
        opening = node.lbracket if isinstance(node, cst.ListComp) else node.lbrace
        if "\n" not in text:
            line = next((line for line in long_lines if text in line), None)
            if line is None:
                return True
            depth = " " * (len(line) - len(line.lstrip()))
            inner, close = newline_indent(depth + unit), newline_indent(depth)
            changes: dict[str, Any] = {"for_in": node.for_in.with_changes(whitespace_before=inner)}
            if isinstance(node, cst.ListComp):
                changes["lbracket"] = cst.LeftSquareBracket(whitespace_after=inner)
                changes["rbracket"] = cst.RightSquareBracket(whitespace_before=close)
            else:
                changes["lbrace"] = cst.LeftCurlyBrace(whitespace_after=inner)
                changes["rbrace"] = cst.RightCurlyBrace(whitespace_before=close)
            replace[id(node)] = node.with_changes(**changes)
            return False
        if isinstance(opening.whitespace_after, cst.ParenthesizedWhitespace) and any(
            line.strip() and line in text for line in long_lines
        ):
            replace[id(node)] = node.with_changes(
                for_in=node.for_in.with_changes(whitespace_before=opening.whitespace_after)
            )
            return False
        return True

    walk(small, visit)
    if not replace:
        return small
    result = small.visit(NodeReplacer(replace))
    assert isinstance(result, cst.BaseSmallStatement)
    return result

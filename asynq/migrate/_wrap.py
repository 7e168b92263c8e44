"""Wrap the lines a rewrite made longer than the configured length, at their brackets.

The rewrite keeps most lines short itself (it names fetched values and spreads long yields);
what it cannot foresee (a long ``zip`` header in a comprehension, a long tuple of names on the
left of ``=``, a read inside a long call) is wrapped here, after the rewrite: on each new line
that is too long, the outermost bracket that opens on it is spread one element per line (a
comprehension one clause per line, a parenthesized expression on a line of its own), the way
black and ruff wrap, and again until every new line fits or nothing is left to spread. Lines
the file already had are never touched, so running the codemod twice changes nothing.
"""

from __future__ import annotations

from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

#: Each pass spreads one bracket per long line; a line needs at most a few.
_MAX_PASSES = 8

_Comp = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_Bracketed = (cst.List, cst.Set, cst.Dict, cst.Tuple, cst.Call, *_Comp)


def wrap_new_lines(code: str, original: str, limit: int, indent: str = "    ") -> str:
    """``code`` with its new lines longer than ``limit`` (lines not in ``original``) wrapped at
    their brackets; ``code`` itself when none is too long or nothing can be wrapped."""
    before = set(original.splitlines())
    if not _long_lines(code, before, limit):
        return code
    try:
        module = cst.parse_module(code)
        for _ in range(_MAX_PASSES):
            long = _long_lines(module.code, before, limit)
            if not long:
                break
            wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
            finder = _Finder(long, module.code.splitlines(), len(indent))
            wrapper.visit(finder)
            if not finder.chosen:
                break
            module = wrapper.module.visit(_Spreader(finder.chosen))
        wrapped = module.code
        compile(wrapped, "<wrapped>", "exec", dont_inherit=True)
    except (SyntaxError, cst.ParserSyntaxError, ValueError, TypeError):
        return code  # never worse than the rewrite itself: its lines stay as they were
    return wrapped


def _long_lines(code: str, before: set[str], limit: int) -> set[int]:
    return {
        number
        for number, line in enumerate(code.splitlines(), 1)
        if len(line) > limit and line not in before
    }


def _break(spaces: int) -> cst.ParenthesizedWhitespace:
    """A line break inside brackets, then the statement's indentation and ``spaces`` more."""
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(),
        empty_lines=[],
        indent=True,
        last_line=cst.SimpleWhitespace(" " * spaces),
    )


class _Finder(cst.CSTVisitor):
    """Chooses, for each long line, the outermost bracket opening on it not yet spread, with
    the indentation of its elements and of its closing bracket (relative to the statement)."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, long: set[int], lines: list[str], step: int) -> None:
        self.long = set(long)
        self.lines = lines
        self.step = step
        self.columns: list[int] = []  # the column of each enclosing statement, innermost last
        self.chosen: dict[int, tuple[int, int]] = {}  # id(node) -> (inner, close) spaces

    def visit_FormattedString(self, node: cst.FormattedString) -> bool:
        return False  # brackets inside an f-string's braces cannot span lines everywhere

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            self.columns.append(self.get_metadata(PositionProvider, node).start.column)
        elif self.long and self.columns and _spreadable(node):
            line = self.get_metadata(PositionProvider, node).start.line
            if line in self.long:
                self.long.discard(line)
                text = self.lines[line - 1]
                close = len(text) - len(text.lstrip(" ")) - self.columns[-1]
                self.chosen[id(node)] = (close + self.step, close)
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            self.columns.pop()
        super().on_leave(original_node)


def _spreadable(node: cst.CSTNode) -> bool:
    """Whether ``node`` opens a bracket that is not spread over lines yet."""
    if isinstance(node, cst.Tuple) and not node.lpar:
        return False  # a bare tuple: spread only as the target of an assignment (below)
    if isinstance(node, cst.AssignTarget):
        target = node.target
        return isinstance(target, cst.Tuple) and not target.lpar and len(target.elements) > 1
    if isinstance(node, cst.Call):
        return bool(node.args) and not isinstance(
            node.whitespace_before_args, cst.ParenthesizedWhitespace
        )
    if isinstance(node, (cst.List, cst.Set, cst.Dict)):
        opening = node.lbracket if isinstance(node, cst.List) else node.lbrace
        return bool(node.elements) and not isinstance(
            opening.whitespace_after, cst.ParenthesizedWhitespace
        )
    if isinstance(node, cst.Tuple):
        return bool(node.elements) and not isinstance(
            node.lpar[0].whitespace_after, cst.ParenthesizedWhitespace
        )
    if isinstance(node, _Comp):
        # (a generator without brackets of its own is a call's only argument: its clauses
        # may go on lines of their own inside the call's)
        return not isinstance(node.for_in.whitespace_before, cst.ParenthesizedWhitespace)
    lpar = getattr(node, "lpar", None)
    if isinstance(node, cst.BaseExpression) and lpar:
        return not isinstance(lpar[0].whitespace_after, cst.ParenthesizedWhitespace)
    return False


class _Spreader(cst.CSTTransformer):
    """Spreads the chosen brackets over lines."""

    def __init__(self, chosen: dict[int, tuple[int, int]]) -> None:
        self.chosen = chosen

    def on_leave(self, original_node: Any, updated_node: Any) -> Any:
        spaces = self.chosen.get(id(original_node))
        if spaces is None:
            return updated_node
        inner, close = spaces
        node = updated_node
        if isinstance(node, cst.AssignTarget):
            target = node.target
            assert isinstance(target, cst.Tuple)  # chosen only so (see _spreadable)
            spread = _elements(target.elements, inner, close, trailing=True)
            return node.with_changes(
                target=target.with_changes(
                    elements=spread,
                    lpar=[cst.LeftParen(whitespace_after=_break(inner))],
                    rpar=[cst.RightParen()],
                )
            )
        if isinstance(node, cst.Call):
            return _spread_call(node, inner, close)
        if isinstance(node, cst.List):
            return node.with_changes(
                lbracket=node.lbracket.with_changes(whitespace_after=_break(inner)),
                elements=_elements(node.elements, inner, close, trailing=True),
                rbracket=node.rbracket.with_changes(whitespace_before=cst.SimpleWhitespace("")),
            )
        if isinstance(node, (cst.Set, cst.Dict)):
            return node.with_changes(
                lbrace=node.lbrace.with_changes(whitespace_after=_break(inner)),
                elements=_elements(node.elements, inner, close, trailing=True),
                rbrace=node.rbrace.with_changes(whitespace_before=cst.SimpleWhitespace("")),
            )
        if isinstance(node, cst.Tuple):
            lpar = [*node.lpar[:-1], node.lpar[-1].with_changes(whitespace_after=_break(inner))]
            rpar = [node.rpar[0].with_changes(whitespace_before=cst.SimpleWhitespace("")), *node.rpar[1:]]
            return node.with_changes(
                lpar=lpar,
                elements=_elements(node.elements, inner, close, trailing=True),
                rpar=rpar,
            )
        if isinstance(node, _Comp):
            return _spread_comprehension(node, inner, close)
        lpar = [*node.lpar[:-1], node.lpar[-1].with_changes(whitespace_after=_break(inner))]
        rpar = [node.rpar[0].with_changes(whitespace_before=_break(close)), *node.rpar[1:]]
        return node.with_changes(lpar=lpar, rpar=rpar)


def _elements(elements: Any, inner: int, close: int, trailing: bool) -> list[Any]:
    """Elements of a list, set, dict or tuple one per line, each with a comma."""
    out = []
    last = len(elements) - 1
    for index, element in enumerate(elements):
        after = _break(close) if index == last else _break(inner)
        if index == last and not trailing:
            out.append(element.with_changes(comma=cst.MaybeSentinel.DEFAULT))
            continue
        out.append(
            element.with_changes(
                comma=cst.Comma(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=after)
            )
        )
    return out


def _spread_call(node: cst.Call, inner: int, close: int) -> cst.Call:
    args = list(node.args)
    # One argument goes on a line of its own without a trailing comma, as black puts it (and
    # ``f(x for x in xs)`` could not take one: its generator has no brackets of its own).
    trailing = len(args) > 1
    out = []
    last = len(args) - 1
    for index, arg in enumerate(args):
        if index == last and not trailing:
            out.append(
                arg.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=_break(close))
            )
            continue
        after = _break(close) if index == last else _break(inner)
        out.append(
            arg.with_changes(
                comma=cst.Comma(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=after),
                whitespace_after_arg=cst.SimpleWhitespace(""),
            )
        )
    return node.with_changes(whitespace_before_args=_break(inner), args=out)


def _spread_comprehension(node: Any, inner: int, close: int) -> Any:
    """``[elt for x in xs if c]`` as ``[`` / ``elt`` / ``for x in xs`` / ``if c`` / ``]``."""

    def spread_for(comp_for: cst.CompFor) -> cst.CompFor:
        ifs = [comp_if.with_changes(whitespace_before=_break(inner)) for comp_if in comp_for.ifs]
        inner_for = comp_for.inner_for_in
        return comp_for.with_changes(
            whitespace_before=_break(inner),
            ifs=ifs,
            inner_for_in=None if inner_for is None else spread_for(inner_for),
        )

    if isinstance(node, cst.GeneratorExp) and not node.lpar:
        inner = close  # inside a call's brackets: the clauses line up with the element
    node = node.with_changes(for_in=spread_for(node.for_in))
    if isinstance(node, cst.ListComp):
        return node.with_changes(
            lbracket=node.lbracket.with_changes(whitespace_after=_break(inner)),
            rbracket=node.rbracket.with_changes(whitespace_before=_break(close)),
        )
    if isinstance(node, (cst.SetComp, cst.DictComp)):
        return node.with_changes(
            lbrace=node.lbrace.with_changes(whitespace_after=_break(inner)),
            rbrace=node.rbrace.with_changes(whitespace_before=_break(close)),
        )
    if not node.lpar:
        return node
    lpar = [*node.lpar[:-1], node.lpar[-1].with_changes(whitespace_after=_break(inner))]
    rpar = [node.rpar[0].with_changes(whitespace_before=_break(close)), *node.rpar[1:]]
    return node.with_changes(lpar=lpar, rpar=rpar)

"""Giving fetched values names, and fetching each value once.

Passes over a converted function, run as the rewrite finishes each block (see
``FunctionConverter._block``) and the function (``FunctionConverter.convert``):

* :func:`name_nested_reads`, before reads are grouped: a yield inside a larger expression
  (``if (yield f.asynq(x)) is None:``, ``return (yield f.asynq(x))["title"]``, a ``for``
  header) is read into a name on a line of its own just before the statement
  (``f_value = yield f.asynq(x)``), and the expression uses the name. A yield may stay
  without a name only as the whole value of an assignment, of a ``return`` or of an
  expression statement. A yield is moved only when that keeps the order of evaluation and
  what runs conditionally: everything the statement evaluates before it is free of effects
  (names, constants, attributes, subscripts, operators, lambdas and harmless builtins), it
  is not in a branch of a conditional expression, in the right side of ``and``/``or``, in
  the later links of a chained comparison, in a comprehension, a lambda, an ``elif`` or
  ``while`` test, and what it fetches is an ``.asynq()`` call (or a comprehension or
  display of them) whose arguments call nothing but harmless builtins. Several such yields
  of one statement are read in one tuple yield. ``x = A if c else B`` and
  ``return A if c else B`` whose branches read and whose test has no effects become an
  ``if`` statement, each branch named the same way.
* :func:`share_repeated_reads`, after reads are grouped: a tuple yield that fetches the
  same read twice (same callee, same arguments, same comprehension) fetches it once, and
  the name of the copy is replaced by the name of the first everywhere; a ``zip`` that then
  iterates the same list twice iterates it once. Nested tuples of a merged yield are made
  flat (``a, (b, c) = yield x, (y, z)`` is ``a, b, c = yield x, y, z``), and a loop over
  fetched values that renames one (``row = f_value``) names it in its header instead.
* :func:`in_reading_order`, on the whole function: numbered names are renumbered in the
  order they are written (``f_value`` before ``f_value_2``).

Names the function already had are never renamed, and new names come from the rewrite's
own scheme (``<callee>_value``, ``<callee>_values`` for a batched list, with ``_2``... when
taken).
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import libcst as cst

from ._cst import (
    HARMLESS_BUILTINS,
    NameRenamer,
    child_nodes,
    name_counts,
    target_names,
    walk,
)
from ._yields import (
    CONDITIONAL_INSIDE,
    YieldReplacer,
    contains_yield,
    newline_indent,
    parenthesized,
    safe_to_evaluate_early,
    spread_header,
    temp_base,
)

if TYPE_CHECKING:
    from ._convert import FunctionConverter

__all__ = ["in_reading_order", "name_nested_reads", "share_repeated_reads"]


# -- naming the values of yields nested in expressions --------------------------------------


class _Scan:
    """Walks an expression in the order Python evaluates it and collects the yields that
    can be read first, before the statement: those reached while everything evaluated
    before them is free of effects, and that always run."""

    def __init__(self) -> None:
        self.found: list[cst.Yield] = []
        self.blocked = False  # something with effects (or a yield kept in place) came first

    def expr(self, node: cst.CSTNode, conditional: bool = False) -> None:
        if self.blocked:
            return
        if isinstance(node, cst.Yield):
            value = node.value
            if (
                conditional
                or value is None
                or isinstance(value, cst.From)
                or contains_yield(value)
                or not _is_read(value)
                or not safe_to_evaluate_early(value)
            ):
                self.blocked = True
            else:
                self.found.append(node)
            return
        if isinstance(node, cst.Lambda):
            if contains_yield(node):
                self.blocked = True  # (a default value would be evaluated now)
            return  # made, not run: its body is evaluated later, if ever
        if isinstance(node, (cst.NamedExpr, cst.Await)):
            self.blocked = True
            return
        if isinstance(node, cst.Call):
            self.expr(node.func, conditional)
            for arg in node.args:
                self.expr(arg.value, conditional)
            func = node.func
            if not (isinstance(func, cst.Name) and func.value in HARMLESS_BUILTINS):
                self.blocked = True  # the call itself runs after its arguments
            return
        if isinstance(node, cst.IfExp):
            self.expr(node.test, conditional)
            self.expr(node.body, True)
            self.expr(node.orelse, True)
            return
        if isinstance(node, cst.BooleanOperation):
            self.expr(node.left, conditional)
            self.expr(node.right, True)
            return
        if isinstance(node, cst.Comparison):
            self.expr(node.left, conditional)
            for index, link in enumerate(node.comparisons):
                self.expr(link.comparator, conditional or index > 0)
            return
        if isinstance(node, CONDITIONAL_INSIDE):
            self.expr(node.for_in.iter, conditional)
            for child in child_nodes(node):
                if child is not node.for_in:
                    self.expr(child, True)
            for child in child_nodes(node.for_in):
                if child is not node.for_in.iter:
                    self.expr(child, True)
            return
        if isinstance(node, cst.DictElement):
            self.expr(node.key, conditional)
            self.expr(node.value, conditional)
            return
        for child in child_nodes(node):
            self.expr(child, conditional)


def _is_read(value: cst.BaseExpression) -> bool:
    """Whether a yielded value is what the rewrite yields: an ``.asynq()`` call, or a
    comprehension or display of them."""
    if isinstance(value, cst.Call):
        return isinstance(value.func, cst.Attribute) and value.func.attr.value == "asynq"
    return isinstance(value, (cst.ListComp, cst.DictComp, cst.List, cst.Tuple, cst.Dict))


def _liftable(small: cst.BaseSmallStatement) -> list[cst.Yield]:
    """The yields of a statement to read into names before it, in order."""
    scan = _Scan()
    if isinstance(small, (cst.Assign, cst.AnnAssign, cst.Return, cst.Expr)):
        value = small.value
        if value is None or isinstance(value, cst.Yield):
            return []  # ``x = yield ...``, ``return (yield ...)``, ``yield ...``: fine as is
        scan.expr(value)
    elif isinstance(small, cst.AugAssign):
        if isinstance(small.value, cst.Yield):
            return []
        scan.expr(small.target)  # an ``obj.attr += ...`` reads its target first
        scan.expr(small.value)
    elif isinstance(small, cst.Raise):
        if small.exc is not None:
            scan.expr(small.exc)
        if small.cause is not None:
            scan.expr(small.cause.item)
    return scan.found


def _read_line(
    yields: Sequence[cst.Yield], fresh: Callable[[str], str]
) -> tuple[cst.SimpleStatementLine, dict[int, str]]:
    """``name = yield value`` (``a, b = yield x, y`` for several), fetching each distinct
    read once, and the name each yield is replaced by."""
    names: dict[int, str] = {}
    members: list[tuple[str, cst.BaseExpression]] = []
    seen: dict[str, str] = {}
    values = [y.value for y in yields if isinstance(y.value, cst.BaseExpression)]
    assert len(values) == len(yields)  # every yield found reads a value (see _Scan)
    keys = _read_keys(values)
    for y, key in zip(yields, keys, strict=True):
        assert y.value is not None and not isinstance(y.value, cst.From)
        if key is not None and key in seen:
            names[id(y)] = seen[key]
            continue
        name = fresh(temp_base(y.value))
        if key is not None:
            seen[key] = name
        names[id(y)] = name
        members.append((name, y.value.with_changes(lpar=[], rpar=[])))
    if len(members) == 1:
        name, value = members[0]
        target: cst.BaseAssignTargetExpression = cst.Name(name)
        item: cst.BaseExpression = value
    else:
        target = _tuple([cst.Name(n) for n, _ in members])
        item = _tuple([parenthesized(v) for _, v in members])
    line = cst.SimpleStatementLine(
        body=[cst.Assign(targets=[cst.AssignTarget(target)], value=cst.Yield(item))]
    )
    return line, names


def _lift(
    stmt: cst.BaseStatement, fresh: Callable[[str], str]
) -> tuple[cst.SimpleStatementLine | None, cst.BaseStatement]:
    """The line reading ``stmt``'s nested yields into names, and ``stmt`` using them."""
    if isinstance(stmt, cst.SimpleStatementLine):
        if len(stmt.body) != 1:
            return None, stmt
        found = _liftable(stmt.body[0])
    elif isinstance(stmt, cst.If):
        scan = _Scan()
        scan.expr(stmt.test)
        found = scan.found
    elif isinstance(stmt, cst.For) and stmt.asynchronous is None:
        scan = _Scan()
        scan.expr(stmt.iter)
        found = scan.found
    else:
        return None, stmt
    if not found:
        return None, stmt
    line, names = _read_line(found, fresh)
    replacer = YieldReplacer(names)
    new: Any
    if isinstance(stmt, cst.If):
        new = stmt.with_changes(test=stmt.test.visit(replacer))
    elif isinstance(stmt, cst.For):
        new = stmt.with_changes(iter=stmt.iter.visit(replacer))
    else:
        new = stmt.visit(replacer)
    line = line.with_changes(leading_lines=stmt.leading_lines)
    return line, new.with_changes(leading_lines=[])


def name_nested_reads(
    stmts: list[cst.BaseStatement], converter: FunctionConverter
) -> list[cst.BaseStatement]:
    """Each statement of a block ``converter`` rewrote whose yields sit inside a larger
    expression (or an ``if`` test, a ``for`` header) preceded by a line that reads them into
    names, where that keeps the order of evaluation (see the module docstring). Statements
    without such yields are returned as they are (the same objects)."""
    out: list[cst.BaseStatement] = []

    out.extend(_named(stmts, converter.new_name))
    return out


def _named(
    stmts: Sequence[cst.BaseStatement], fresh: Callable[[str], str]
) -> list[cst.BaseStatement]:
    out: list[cst.BaseStatement] = []
    for stmt in stmts:
        line, new = _lift(stmt, fresh)
        if line is not None:
            out.append(line)
        out.append(_as_if(new, fresh))
    return out


def _as_if(stmt: cst.BaseStatement, fresh: Callable[[str], str]) -> cst.BaseStatement:
    """``x = A if test else B`` (or ``return A if test else B``) whose branches read, and
    whose test has no effects, as ``if test:`` / ``x = A`` / ``else:`` / ``x = B``, each
    branch's reads then named like any statement's; anything else as it is."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return stmt
    small = stmt.body[0]
    if not (
        (isinstance(small, cst.Assign) and len(small.targets) == 1) or isinstance(small, cst.Return)
    ):
        return stmt
    choice = small.value
    if not isinstance(choice, cst.IfExp) or not (
        contains_yield(choice.body) or contains_yield(choice.orelse)
    ):
        return stmt
    scan = _Scan()
    scan.expr(choice.test)
    if scan.blocked or scan.found or contains_yield(choice.test):
        return stmt

    def branch(value: cst.BaseExpression) -> list[cst.BaseStatement]:
        if isinstance(value, cst.Yield):  # ``x = yield ...``, ``return (yield ...)``
            parens = [cst.LeftParen()], [cst.RightParen()]
            lpar, rpar = parens if isinstance(small, cst.Return) else ([], [])
            value = value.with_changes(lpar=lpar, rpar=rpar)
        line = cst.SimpleStatementLine(body=[small.with_changes(value=value)])
        return _named([line], fresh)

    body = branch(choice.body)
    orelse = branch(choice.orelse)
    otherwise: cst.If | cst.Else
    if len(orelse) == 1 and isinstance(orelse[0], cst.If):
        otherwise = orelse[0]  # ``A if t else B if u else C``: an ``elif``
    else:
        otherwise = cst.Else(body=cst.IndentedBlock(body=orelse))
    return cst.If(
        test=choice.test,
        body=cst.IndentedBlock(body=body, header=stmt.trailing_whitespace),
        orelse=otherwise,
        leading_lines=stmt.leading_lines,
    )


# -- fetching each read once ----------------------------------------------------------------


def _read_keys(values: Sequence[cst.BaseExpression]) -> list[str | None]:
    """:func:`_same_read_key` of each value that may be the same read as another one (same
    function read, by its name); None for the others."""
    bases = [temp_base(v) for v in values]
    return [
        _same_read_key(v) if bases.count(base) > 1 else None
        for v, base in zip(values, bases, strict=True)
    ]


def _same_read_key(value: cst.BaseExpression) -> str | None:
    """A key equal for two yielded values exactly when they are the same read written the same
    way (whitespace, comments and parentheses aside); None when evaluating the value could
    have effects, so that two copies might differ."""
    if not safe_to_evaluate_early(value):
        return None
    code = cst.Module(body=[]).code_for_node(value.with_changes(lpar=[], rpar=[]))
    try:
        return ast.dump(ast.parse(f"({code}\n)", mode="eval"))
    except SyntaxError:
        return None


def _tuple(values: Sequence[cst.BaseExpression]) -> cst.Tuple:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    last = len(values) - 1
    return cst.Tuple(
        [
            cst.Element(v, comma if i < last else cst.MaybeSentinel.DEFAULT)
            for i, v in enumerate(values)
        ],
        lpar=[],
        rpar=[],
    )


def _bound_names(node: cst.CSTNode) -> set[str]:
    """Every name bound anywhere in ``node`` (assignments, loops, ``as``, imports,
    definitions; comprehension variables too, to be safe)."""
    out: set[str] = set()

    def visit(n: cst.CSTNode) -> bool:
        if isinstance(n, cst.AssignTarget):
            out.update(target_names(n.target))
        elif isinstance(n, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor)):
            out.update(target_names(n.target))
        elif isinstance(n, cst.NamedExpr):
            out.update(target_names(n.target))
        elif isinstance(n, cst.AsName):
            out.update(target_names(n.name))
        elif isinstance(n, (cst.FunctionDef, cst.ClassDef)):
            out.add(n.name.value)
        elif isinstance(n, cst.ImportAlias):
            out.add((n.evaluated_alias or n.evaluated_name).split(".")[0])
        elif isinstance(n, (cst.Global, cst.Nonlocal)):
            out.update(item.name.value for item in n.names)
        return True

    walk(node, visit)
    return out


def _flat_members(
    target: cst.BaseExpression, value: cst.BaseExpression
) -> list[tuple[cst.BaseExpression, cst.BaseExpression]] | None:
    """The (target, value) pairs of ``a, (b, c) = yield x, (y, z)``, nested tuples made flat;
    None when the target and the value do not match element for element."""
    if not (isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, cst.Tuple)):
        return None
    if len(target.elements) != len(value.elements):
        return None
    out: list[tuple[cst.BaseExpression, cst.BaseExpression]] = []
    for t, v in zip(target.elements, value.elements, strict=True):
        if not isinstance(t, cst.Element) or not isinstance(v, cst.Element):
            return None
        inner = _flat_members(t.value, v.value)
        if inner is not None:
            out.extend(inner)
        else:
            out.append((t.value, v.value))
    return out


def _tuple_read(stmt: cst.BaseStatement) -> tuple[cst.Assign, list[Any]] | None:
    """``a, b = yield x, y`` as its assignment and (target, value) pairs, made flat."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    value = small.value
    if not isinstance(value, cst.Yield) or value.value is None:
        return None
    if isinstance(value.value, cst.From):
        return None
    pairs = _flat_members(small.targets[0].target, value.value)
    if pairs is None:
        return None
    return small, pairs


def share_repeated_reads(
    stmts: list[cst.BaseStatement], converter: FunctionConverter
) -> list[cst.BaseStatement]:
    """A block ``converter`` rewrote, with each read of a tuple yield fetched once (see the
    module docstring). Names the function had before the rewrite are never renamed.
    Statements left alone are returned as they are (the same objects)."""

    known: list[Counter[str]] = []

    def original_counts() -> Counter[str]:
        if not known:
            known.append(name_counts(converter.fn))
        return known[0]

    def original_names() -> set[str]:
        return set(original_counts())

    def fit_header(loop: cst.For) -> cst.For:
        width = len(converter.indent) * converter.depth
        return flat_header(loop, width, converter.line_length, converter.indent)

    out: list[Any] = list(stmts)
    originals: set[str] | None = None
    earlier_reads = _EarlierReads()
    for index, stmt in enumerate(out):
        if _repeats_a_list(stmt, frozenset()):
            # A read an earlier statement fetched already now iterates the same list twice.
            if originals is None:
                originals = original_names()
            kept_lists = frozenset(originals)
            if _repeats_a_list(stmt, kept_lists):
                stmt = out[index] = _one_zip_per_list(stmt, fit_header, kept_lists)
        single = _single_read(stmt)
        if single is not None:
            target, value = single
            if originals is None:
                originals = original_names()
            same = earlier_reads.find(value)
            if (
                same is not None
                and target.value not in originals
                and not (
                    same in originals
                    and any(same in _bound_names(s) for s in out[index + 1 :] if s is not None)
                )
                and not any(line.comment is not None for line in stmt.leading_lines)
            ):
                # Fetched already, and nothing since could have changed it: use that name.
                in_use = converter.names_in_use
                if in_use is not None:
                    in_use.discard(target.value)
                out[index] = None
                _rename_after(out, index, {target.value: same}, fit_header)
                continue
            earlier_reads.read(stmt, target, value)
            continue
        found = _tuple_read(stmt)
        if found is None:
            earlier_reads.after(stmt)
        if found is not None:
            small, pairs = found
            nested = len(pairs) != len(getattr(small.targets[0].target, "elements", ()))
            kept: list[tuple[cst.BaseExpression, cst.BaseExpression]] = []
            renames: dict[str, str] = {}
            first: dict[str, int] = {}
            keys = _read_keys([value for _, value in pairs])
            for (target, value), key in zip(pairs, keys, strict=True):
                if not isinstance(target, cst.Name):
                    key = None
                if key is not None and key in first:
                    if originals is None:
                        originals = original_names()
                    pos = first[key]
                    earlier = kept[pos][0]
                    assert isinstance(earlier, cst.Name) and isinstance(target, cst.Name)
                    if target.value not in originals:
                        keep, drop = earlier.value, target.value
                    elif earlier.value not in originals:
                        keep, drop = target.value, earlier.value
                        kept[pos] = (target, kept[pos][1])
                    else:
                        kept.append((target, value))  # two names the code chose: left alone
                        continue
                    if keep in originals and any(keep in _bound_names(s) for s in out[index + 1 :]):
                        kept.append((target, value))  # reassigned later: left alone
                        continue
                    renames[drop] = keep
                    continue
                if key is not None:
                    first[key] = len(kept)
                kept.append((target, value))
            in_use = converter.names_in_use
            if renames and in_use is not None and originals is not None:
                renumbered = _renumbered(kept, renames, in_use, originals)
                renames = {d: renumbered.get(k, k) for d, k in renames.items()} | renumbered
                kept = [
                    (t.with_changes(value=renumbered.get(t.value, t.value)), v)
                    if isinstance(t, cst.Name)
                    else (t, v)
                    for t, v in kept
                ]
            if renames or nested:
                out[index] = _rebuilt_read(stmt, small, kept)
            if renames:
                _rename_after(out, index, renames, fit_header)
            earlier_reads.after(out[index])
            for read_target, read_value in kept:
                if isinstance(read_target, cst.Name):
                    earlier_reads.remember(read_target, read_value)
        elif isinstance(stmt, cst.For):
            out[index] = _name_in_header(stmt, original_counts, fit_header)
    if any(stmt is None for stmt in out):
        return [stmt for stmt in out if stmt is not None]
    return out


def _rename_after(
    out: list[Any],
    index: int,
    renames: dict[str, str],
    fit_header: Callable[[cst.For], cst.For],
) -> None:
    """Apply ``renames`` to the statements after ``out[index]``."""
    for later in range(index + 1, len(out)):
        if out[later] is None:
            continue
        counts = name_counts(out[later])
        if any(counts[name] for name in renames):
            renamed = out[later].visit(NameRenamer(renames))
            assert isinstance(renamed, cst.BaseStatement)
            out[later] = _one_zip_per_list(renamed, fit_header)


def _single_read(stmt: cst.BaseStatement) -> tuple[cst.Name, cst.BaseExpression] | None:
    """``name = yield value`` as its target and value."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    target, value = small.targets[0].target, small.value
    if not isinstance(target, cst.Name) or not isinstance(value, cst.Yield):
        return None
    if not isinstance(value.value, cst.BaseExpression) or contains_yield(value.value):
        return None
    return target, value.value


class _EarlierReads:
    """The reads a block has fetched so far whose values are still what a new fetch would
    give: only reads and statements free of effects (assignments of names from names,
    constants, operators and harmless builtins) came since, and nothing rebound their names
    or the names their arguments use."""

    def __init__(self) -> None:
        # (name holding the value, the value read, the names its arguments use)
        self.reads: list[tuple[str, cst.BaseExpression, set[str]]] = []

    def find(self, value: cst.BaseExpression) -> str | None:
        if not self.reads:
            return None
        base = temp_base(value)
        for name, earlier, _ in self.reads:
            if temp_base(earlier) == base:
                key = _same_read_key(value)
                if key is not None and key == _same_read_key(earlier):
                    return name
        return None

    def read(self, stmt: cst.BaseStatement, target: cst.Name, value: cst.BaseExpression) -> None:
        self.after(stmt)
        self.remember(target, value)

    def remember(self, target: cst.Name, value: cst.BaseExpression) -> None:
        if _is_read(value) and safe_to_evaluate_early(value):
            self.reads.append((target.value, value, set(name_counts(value))))

    def after(self, stmt: cst.BaseStatement | None) -> None:
        """Forget what ``stmt`` may have changed (everything, unless it is free of effects)."""
        if not self.reads or stmt is None:
            return
        if not _without_effects(stmt):
            self.reads.clear()
            return
        bound = _bound_names(stmt)
        self.reads = [r for r in self.reads if r[0] not in bound and not r[2] & bound]


def _without_effects(stmt: cst.BaseStatement) -> bool:
    """A line of assignments to names (or tuples of names) and expressions that have no
    effects, or of reads (``x = yield f.asynq(a)``, ``a, b = yield ...``)."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if isinstance(small, cst.Pass):
            continue
        if isinstance(small, cst.Assign):
            targets = [t.target for t in small.targets]
        elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
            targets = [small.target]
        else:
            return False
        for target in targets:
            if not all(isinstance(n, cst.Name) for n in _target_leaves(target)):
                return False
        value = small.value
        if value is None:
            continue
        if isinstance(value, cst.Yield):
            if not (isinstance(value.value, cst.BaseExpression) and _is_read(value.value)):
                return False
            if not safe_to_evaluate_early(value.value):
                return False
            continue
        scan = _Scan()
        scan.expr(value)
        if scan.blocked or scan.found or contains_yield(value):
            return False
    return True


def _target_leaves(target: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [leaf for el in target.elements for leaf in _target_leaves(el.value)]
    return [target]


def _renumbered(
    pairs: list[tuple[cst.BaseExpression, cst.BaseExpression]],
    dropped: dict[str, str],
    names: set[str],
    originals: set[str],
) -> dict[str, str]:
    """New names for the names the rewrite made in ``pairs`` once the ``dropped`` copies are
    gone, so that numbers have no gaps (``f_value, f_value_3`` becomes ``f_value,
    f_value_2``); ``names`` (every name in use) is kept up to date."""
    names.difference_update(dropped)
    out: dict[str, str] = {}
    for target, _ in pairs:
        if not isinstance(target, cst.Name) or target.value in originals:
            continue
        base, _, number = target.value.rpartition("_")
        if not (base and number.isdigit() and int(number) > 1):
            continue
        for n in range(1, int(number)):
            candidate = base if n == 1 else f"{base}_{n}"
            if candidate not in names:
                names.discard(target.value)
                names.add(candidate)
                out[target.value] = candidate
                break
    return out


def _rebuilt_read(
    stmt: cst.BaseStatement,
    small: cst.Assign,
    pairs: list[tuple[cst.BaseExpression, cst.BaseExpression]],
) -> cst.BaseStatement:
    """``stmt`` as the read of ``pairs`` (one tuple yield, or one yield for one pair)."""
    assert isinstance(stmt, cst.SimpleStatementLine)
    if len(pairs) == 1:
        target, value = pairs[0]
        item = value
    else:
        target = _tuple([parenthesized(t) for t, _ in pairs])
        item = _tuple([parenthesized(v) for _, v in pairs])
    bare: Any = target.with_changes(lpar=[], rpar=[])
    assign = small.with_changes(
        targets=[cst.AssignTarget(bare)],
        value=cst.Yield(item),
    )
    return stmt.with_changes(body=[assign])


def _zip_duplicates(
    target: cst.BaseExpression, items: cst.BaseExpression, kept: frozenset[str] = frozenset()
) -> dict[int, int] | None:
    """For ``for a, b, c in zip(xs, ys, ys)``: the position of each repeated list and of
    its first occurrence (``{2: 1}``); None when there is none. A list named in ``kept``
    is never counted as repeated."""
    if not (
        isinstance(items, cst.Call)
        and isinstance(items.func, cst.Name)
        and items.func.value == "zip"
        and isinstance(target, cst.Tuple)
        and len(target.elements) == len(items.args)
    ):
        return None
    firsts: dict[str, int] = {}
    repeats: dict[int, int] = {}
    for position, (element, arg) in enumerate(zip(target.elements, items.args, strict=True)):
        if arg.keyword is not None or arg.star or not isinstance(element.value, cst.Name):
            return None
        if isinstance(arg.value, cst.Name) and arg.value.value not in kept:
            if arg.value.value in firsts:
                repeats[position] = firsts[arg.value.value]
            else:
                firsts[arg.value.value] = position
    return repeats or None


class _OneZipPerList(cst.CSTTransformer):
    """``for x, v, v_2 in zip(xs, vs, vs)`` (a comprehension or a loop) as
    ``for x, v in zip(xs, vs)``, ``v_2`` renamed ``v`` inside."""

    def __init__(
        self, fit_header: Callable[[cst.For], cst.For], kept: frozenset[str] = frozenset()
    ) -> None:
        super().__init__()
        self.fit_header = fit_header
        self.kept = kept

    def _fold(
        self, target: cst.BaseExpression, items: cst.BaseExpression
    ) -> tuple[cst.Tuple, cst.Call, dict[str, str]] | None:
        repeats = _zip_duplicates(target, items, self.kept)
        if repeats is None:
            return None
        assert isinstance(target, cst.Tuple) and isinstance(items, cst.Call)
        names = [el.value.value for el in target.elements if isinstance(el.value, cst.Name)]
        renames = {names[later]: names[first] for later, first in repeats.items()}
        kept_names = [n for i, n in enumerate(names) if i not in repeats]
        kept_args = [a for i, a in enumerate(items.args) if i not in repeats]
        call = items.with_changes(
            args=[
                cst.Arg(a.value, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                if i < len(kept_args) - 1
                else cst.Arg(a.value)
                for i, a in enumerate(kept_args)
            ],
            whitespace_before_args=cst.SimpleWhitespace(""),
        )
        return _tuple([cst.Name(n) for n in kept_names]), call, renames

    def _comp(self, node: Any) -> Any:
        folded = self._fold(node.for_in.target, node.for_in.iter)
        if folded is None:
            return node
        target, items, renames = folded
        inner = node.with_changes(
            for_in=node.for_in.with_changes(target=cst.Name("_"), iter=cst.Name("_"))
        )
        if _bound_names(inner) & set(renames.values()):
            return node  # a name the copy becomes is bound again inside: left alone
        renamed = inner.visit(NameRenamer(renames))
        return renamed.with_changes(for_in=renamed.for_in.with_changes(target=target, iter=items))

    def leave_ListComp(self, original_node: cst.ListComp, updated_node: cst.ListComp) -> Any:
        return self._comp(updated_node)

    def leave_SetComp(self, original_node: cst.SetComp, updated_node: cst.SetComp) -> Any:
        return self._comp(updated_node)

    def leave_DictComp(self, original_node: cst.DictComp, updated_node: cst.DictComp) -> Any:
        return self._comp(updated_node)

    def leave_GeneratorExp(
        self, original_node: cst.GeneratorExp, updated_node: cst.GeneratorExp
    ) -> Any:
        return self._comp(updated_node)

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> Any:
        folded = self._fold(updated_node.target, updated_node.iter)
        if folded is None:
            return updated_node
        target, items, renames = folded
        if _bound_names(updated_node.body) & set(renames.values()):
            return updated_node
        body = updated_node.body.visit(NameRenamer(renames))
        orelse = updated_node.orelse.visit(NameRenamer(renames)) if updated_node.orelse else None
        return self.fit_header(
            updated_node.with_changes(target=target, iter=items, body=body, orelse=orelse)
        )


def _one_zip_per_list(
    stmt: cst.BaseStatement,
    fit_header: Callable[[cst.For], cst.For],
    kept: frozenset[str] = frozenset(),
) -> cst.BaseStatement:
    result = stmt.visit(_OneZipPerList(fit_header, kept))
    assert isinstance(result, cst.BaseStatement)
    return result


def _repeats_a_list(stmt: cst.BaseStatement, kept: frozenset[str]) -> bool:
    """Whether a loop or comprehension of ``stmt`` iterates a ``zip`` over the same list
    twice (a list not named in ``kept``)."""
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, (cst.For, cst.CompFor)):
            found = found or _zip_duplicates(node.target, node.iter, kept) is not None
        return not found

    walk(stmt, visit)
    return found


def _name_in_header(
    loop: cst.For,
    original_counts: Callable[[], Counter[str]],
    fit_header: Callable[[cst.For], cst.For],
) -> cst.For:
    """``for x, f_value in zip(xs, f_values):`` whose body renames the value
    (``row = f_value``, ``f_value`` used nowhere else) as ``for x, row in zip(xs, f_values):``.
    The renaming statement must come first in the body, or ``row`` must be used only in the
    loop and not before that statement, so that binding it a little earlier changes nothing."""
    target = loop.target
    if not isinstance(target, cst.Tuple) or not isinstance(loop.body, cst.IndentedBlock):
        return loop
    body = list(loop.body.body)
    names = [el.value.value for el in target.elements if isinstance(el.value, cst.Name)]
    for position, stmt in enumerate(body):
        if not (
            isinstance(stmt, cst.SimpleStatementLine)
            and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Assign)
            and len(stmt.body[0].targets) == 1
            and isinstance(stmt.body[0].targets[0].target, cst.Name)
            and isinstance(stmt.body[0].value, cst.Name)
            and stmt.body[0].value.value in names
        ):
            continue
        name = stmt.body[0].targets[0].target.value
        value = stmt.body[0].value.value
        in_loop = name_counts(loop)
        if (
            name in names
            or in_loop[value] != 2
            or any(line.comment is not None for line in stmt.leading_lines)
            or position == len(body) - 1
            or value in original_counts()
        ):
            return loop
        if position and (
            any(name_counts(before)[name] for before in body[:position])
            or original_counts()[name] != in_loop[name]
        ):
            return loop
        elements = [
            el.with_changes(value=cst.Name(name))
            if isinstance(el.value, cst.Name) and el.value.value == value
            else el
            for el in target.elements
        ]
        rest: list[Any] = body[:position] + body[position + 1 :]
        following = rest[position]
        rest[position] = following.with_changes(
            leading_lines=[*stmt.leading_lines, *following.leading_lines]
        )
        return fit_header(
            loop.with_changes(
                target=target.with_changes(elements=elements),
                body=loop.body.with_changes(body=rest),
            )
        )
    return loop


def flat_header(loop: cst.For, width: int, limit: int, unit: str) -> cst.For:
    """``loop``'s header laid out as the rewrite lays out the loops it makes, for ``limit``
    columns at ``width`` columns of indentation: ``for a, b in zip(xs, ys):`` on one line;
    else the ``zip`` arguments on a line of their own; else one name and one iterable per
    line (see :func:`spread_header`)."""
    items = loop.iter
    if not isinstance(items, cst.Call):
        return loop
    target = loop.target
    if isinstance(target, cst.Tuple) and all(type(el) is cst.Element for el in target.elements):
        target = _tuple([el.value for el in target.elements])
    args = [
        a.with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            if i < len(items.args) - 1
            else cst.MaybeSentinel.DEFAULT,
            whitespace_after_arg=cst.SimpleWhitespace(""),
        )
        for i, a in enumerate(items.args)
    ]
    items = items.with_changes(args=args, whitespace_before_args=cst.SimpleWhitespace(""))
    render = cst.Module(body=[]).code_for_node
    header = f"for {render(target)} in {render(items)}:"
    if width + len(header) > limit and args:
        inner = f"{unit}{', '.join(render(a.value) for a in args)}"
        first = f"for {render(target)} in {render(items.func)}("
        if isinstance(target, cst.Tuple) and max(len(first), len(inner)) + width > limit:
            target, items = spread_header(target, items, unit)
        else:
            args[-1] = args[-1].with_changes(whitespace_after_arg=newline_indent(""))
            items = items.with_changes(args=args, whitespace_before_args=newline_indent(unit))
    return loop.with_changes(target=target, iter=items)


# -- numbers in reading order ----------------------------------------------------------------


def in_reading_order(fn: cst.FunctionDef, converter: FunctionConverter) -> cst.FunctionDef:
    """``fn`` (the converted function) with the numbers of the names the rewrite made in the
    order they are first written: ``f_value`` before ``f_value_2``. (Names are made as the
    rewrite needs them, which is not always from the top.)"""
    made = converter.names_in_use
    if not made:
        return fn
    numbered = [n for n in made if _number(n)[1] > 1]
    if not numbered:
        return fn
    originals = set(name_counts(converter.fn))
    groups: dict[str, set[str]] = {}
    for name in numbered:
        base = _number(name)[0]
        if name not in originals and base in made and base not in originals:
            groups.setdefault(base, {base}).add(name)
    if not groups:
        return fn
    order: list[str] = []
    seen: set[str] = set()
    members = set().union(*groups.values())

    def visit(node: cst.CSTNode) -> bool:
        if type(node) is cst.Name and node.value in members and node.value not in seen:
            seen.add(node.value)
            order.append(node.value)
        return True

    walk(fn.body, visit)
    renames: dict[str, str] = {}
    for base, names in groups.items():
        written = [n for n in order if n in names]
        taken = made - names
        wanted: list[str] = []
        number = 1
        while len(wanted) < len(written):
            candidate = base if number == 1 else f"{base}_{number}"
            if candidate not in taken:
                wanted.append(candidate)
            number += 1
        renames.update({old: new for old, new in zip(written, wanted, strict=True) if old != new})
    if not renames:
        return fn
    return fn.with_changes(body=fn.body.visit(NameRenamer(renames)))


def _number(name: str) -> tuple[str, int]:
    """``("f_value", 3)`` for ``f_value_3``; ``(name, 1)`` for a name without a number."""
    base, _, number = name.rpartition("_")
    if base and number.isdigit() and not number.startswith("0"):
        return base, int(number)
    return name, 1

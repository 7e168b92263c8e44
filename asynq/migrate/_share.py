"""Sharing rounds between statements: reads of different statements that do not depend on
each other, with nothing between them whose order matters, share one batched yield.

What may stand between two reads that share a yield (everything else keeps them apart):

- statements whose calls are only reads (``.asynq()`` calls once rewritten), the builtins of
  ``HARMLESS_BUILTINS`` (and ``dict``, ``any``, ``all``), and methods that change or query a
  container the function builds itself (a name assigned only a display, a comprehension or
  the yield of one: ``d = {}``, ``rows = [...]``, then ``d.get(k)``, ``rows.sort(key=...)``);
- ``for`` loops and ``if`` statements made of such statements, without ``return`` or
  ``raise`` (an ``if`` whose branch returns or raises keeps reads after it
  apart, since they might not happen).

Assigning an attribute (``obj.x = ...``), an item of a container the function did not build,
``del``, ``global``, ``with``, ``try``, ``while``, ``raise``, ``assert``, a ``break`` or
``continue`` of an enclosing loop, nested definitions, imports and any other call keep reads
apart. A read moves above a statement only when that
statement does not use a name the read assigns and assigns (or changes) no name the read uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import libcst as cst

from ._cst import (
    HARMLESS_BUILTINS,
    NameRenamer,
    child_nodes,
    comp_target_names,
    dotted_name,
    name_counts,
    param_names,
    target_names,
    walk,
)
from ._yields import (
    YieldReplacer,
    collect_unconditional_yields,
    count_yields,
    read_member,
    safe_to_evaluate_early,
    strip_yield_parens,
)

#: builtins that may run in either order with a read
SAFE_BUILTINS = HARMLESS_BUILTINS | frozenset({"dict", "any", "all"})

#: methods of lists, dicts and sets the function builds itself
CONTAINER_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "sort",
        "reverse",
        "update",
        "setdefault",
        "get",
        "add",
        "discard",
        "items",
        "keys",
        "values",
        "copy",
        "count",
        "index",
    }
)

_OPAQUE_STATEMENTS = (
    cst.While,
    cst.With,
    cst.Try,
    cst.TryStar,
    cst.Match,
    cst.FunctionDef,
    cst.ClassDef,
)
_OPAQUE_SMALL = (
    cst.Raise,
    cst.Del,
    cst.Global,
    cst.Nonlocal,
    cst.Import,
    cst.ImportFrom,
    cst.Assert,
)


@dataclasses.dataclass(frozen=True)
class StatementFacts:
    """What one statement of a function body assigns, mentions and calls.

    ``assigned`` includes containers it changes (``d[k] = v``, ``rows.append(x)``);
    ``used`` is every name it mentions, ``read_used`` those its reads need (names in the
    calls, and in comprehensions and lambdas that call something); ``calls`` counts the calls that are neither harmless
    builtins, nor container methods, nor ``.asynq()`` calls (reads not yet rewritten are
    counted: the whole-program analysis subtracts the ones that become yields);
    ``opaque``: a statement whose order always matters; ``pinned``: its reads cannot be
    named ahead of it (a read in a branch, in a compound statement other than ``for``, or
    in the arguments of another call)."""

    assigned: frozenset[str]
    used: frozenset[str]
    read_used: frozenset[str]
    calls: int
    opaque: bool
    pinned: bool
    #: for a simple statement: the longest chain of calls in it where one needs the value of
    #: another (``g(f(x))``, ``[g(r) for r in f(c)]``): at least the rounds its reads take
    chain: int = 0
    #: a simple assignment (``x = f(a)``): its reads, moved, still assign its names; the
    #: reads of other statements are named afresh (``f_values``) when they move
    assigns: bool = False


def _display(value: cst.BaseExpression | None) -> bool:
    if isinstance(value, cst.Yield):
        value = value.value if not isinstance(value.value, cst.From) else None
    if isinstance(value, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp)):
        return True
    return (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Name)
        and value.func.value in ("dict", "list", "set")
        and not value.args
    )


def local_containers(stmts: list[cst.BaseStatement]) -> frozenset[str]:
    """Names the statements bind only to a display or comprehension (or the yield of one)."""
    good: set[str] = set()
    bad: set[str] = set()

    def visit(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Assign):
            for target in node.targets:
                names = target_names(target.target)
                if isinstance(target.target, cst.Name) and _display(node.value):
                    good.update(names)
                else:
                    bad.update(names)
        elif isinstance(node, cst.AnnAssign):
            names = target_names(node.target)
            if isinstance(node.target, cst.Name) and _display(node.value):
                good.update(names)
            else:
                bad.update(names)
        elif isinstance(node, (cst.For, cst.CompFor)):
            bad.update(target_names(node.target))
        elif isinstance(node, (cst.NamedExpr, cst.WithItem)):
            bad.update(target_names(getattr(node, "target", None) or getattr(node, "asname", None)))
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        return True

    for stmt in stmts:
        walk(stmt, visit)
    return frozenset(good - bad)


def _call_kind(call: cst.Call, containers: frozenset[str]) -> str:
    """``"read"`` (an ``.asynq()`` call), ``"safe"`` (a harmless builtin), ``"container"``
    (a container method), or ``"other"``."""
    func = call.func
    if isinstance(func, cst.Name) and func.value in SAFE_BUILTINS:
        return "safe"
    if isinstance(func, cst.Attribute):
        if func.attr.value == "asynq":
            return "read"
        if (
            isinstance(func.value, cst.Name)
            and func.value.value in containers
            and func.attr.value in CONTAINER_METHODS
        ):
            return "container"
    return "other"


def _base_name(node: cst.BaseExpression) -> str | None:
    while isinstance(node, (cst.Subscript, cst.Attribute)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def statement_facts(stmt: cst.BaseStatement, containers: frozenset[str]) -> StatementFacts:
    """The :class:`StatementFacts` of one statement (see the module docstring)."""
    assigned: set[str] = set()
    used: set[str] = set()
    read_used: set[str] = set()
    calls = 0
    opaque = isinstance(stmt, _OPAQUE_STATEMENTS)
    pinned = isinstance(stmt, (cst.If, *_OPAQUE_STATEMENTS))
    #: depth of branches (``a if c else b``, ``a or b``, a chained comparison) and of the
    #: arguments of calls that are not reads or harmless
    hidden = 0

    def assign_target(target: cst.BaseExpression) -> None:
        nonlocal opaque
        if isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                assign_target(el.value)
            return
        if isinstance(target, cst.StarredElement):
            assign_target(target.value)
            return
        if isinstance(target, cst.Name):
            assigned.add(target.value)
            return
        base = _base_name(target)
        if isinstance(target, cst.Subscript) and base is not None and base in containers:
            assigned.add(base)
            return
        opaque = True  # an attribute, or an item of something the function did not build

    #: names bound by the comprehensions and lambdas the walk is in (not the function's)
    bound: list[set[str]] = []

    #: how many calls that read (or may), or comprehensions and lambdas that contain one,
    #: the walk is in: names there are what the reads need
    reading = 0
    loops = 0  # loops the walk is in, within ``stmt``

    def visit(node: cst.CSTNode) -> None:
        nonlocal reading
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            bound.append(comp_target_names(node))
        elif isinstance(node, cst.Lambda):
            bound.append(param_names(node.params))
        else:
            visit_node(node)
            return
        inner = _calls_something(node, containers)
        reading += inner
        try:
            visit_node(node)
        finally:
            bound.pop()
            reading -= inner

    def visit_node(node: cst.CSTNode) -> None:
        nonlocal calls, opaque, pinned, hidden, reading, loops
        if isinstance(node, _OPAQUE_SMALL) or isinstance(node, _OPAQUE_STATEMENTS):
            opaque = True
            return
        if isinstance(node, (cst.Yield, cst.Await, cst.NamedExpr)):
            if not isinstance(node, cst.Yield):
                opaque = True
            pinned = pinned or isinstance(node, cst.Yield) and hidden > 0
        if isinstance(node, cst.Return) and not top:
            opaque = True
        if isinstance(node, cst.Name):
            if not any(node.value in names for names in bound):
                used.add(node.value)
                if reading:
                    read_used.add(node.value)
        elif isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
            targets = (
                [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            )
            for target in targets:
                assign_target(target)
        elif isinstance(node, cst.For):
            assigned.update(target_names(node.target))
            loops += 1
            for child in child_nodes(node):
                visit(child)
            loops -= 1
            return
        elif isinstance(node, (cst.Break, cst.Continue)) and not loops:
            opaque = True  # leaves the enclosing loop: reads after it might not happen
        elif isinstance(node, cst.Call):
            kind = _call_kind(node, containers)
            if kind == "container":
                assert isinstance(node.func, cst.Attribute)
                assert isinstance(node.func.value, cst.Name)
                assigned.add(node.func.value.value)
            elif kind == "read":
                reading += 1
                for child in child_nodes(node):
                    visit(child)
                reading -= 1
                return
            elif kind == "other":
                calls += 1
                if hidden:
                    pinned = True
                reading += 1
                visit(node.func)
                hidden += 1
                for arg in node.args:
                    visit(arg)
                hidden -= 1
                reading -= 1
                return
        elif isinstance(node, (cst.IfExp, cst.BooleanOperation)) or (
            isinstance(node, cst.Comparison) and len(node.comparisons) > 1
        ):
            for child in child_nodes(node):
                visit(child)
            branches = _branch_calls(node, containers)
            if branches:
                pinned = True
            return
        for child in child_nodes(node):
            visit(child)

    top = isinstance(stmt, cst.SimpleStatementLine)
    loops = 1 if isinstance(stmt, cst.For) else 0
    if isinstance(stmt, cst.For):
        assigned.update(target_names(stmt.target))
        for child in child_nodes(stmt):
            visit(child)
        if stmt.orelse is not None:
            opaque = True
        iter_calls = False

        def in_iter(n: cst.CSTNode) -> bool:
            nonlocal iter_calls
            if isinstance(n, cst.Call) and _call_kind(n, containers) in ("read", "other"):
                iter_calls = True
            iter_calls = iter_calls or isinstance(n, cst.Yield)
            return not iter_calls

        walk(stmt.iter, in_iter)
        pinned = pinned or iter_calls
        # A loop's reads are read for its items before the loop: they need the names of its
        # iterable and of the tests of its guards, besides those in the reads' arguments.
        read_used.update(_loop_read_names(stmt) & used)
    else:
        visit(stmt)
    chain = call_chain(stmt, containers) if isinstance(stmt, cst.SimpleStatementLine) else 0
    assigns = (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], (cst.Assign, cst.AnnAssign, cst.AugAssign))
    )
    return StatementFacts(
        frozenset(assigned),
        frozenset(used),
        frozenset(read_used),
        calls,
        opaque,
        pinned,
        chain,
        assigns,
    )


def _loop_read_names(loop: cst.For) -> set[str]:
    """The names in a loop's iterable and in the tests of the ``if`` statements in its body."""
    names: set[str] = set(name_counts(loop.iter))

    def visit(node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.If, cst.While)):
            names.update(name_counts(node.test))
        return not isinstance(node, (cst.FunctionDef, cst.ClassDef))

    walk(loop.body, visit)
    return names


def call_chain(node: cst.CSTNode, containers: frozenset[str]) -> int:
    """The longest chain of calls (other than harmless builtins and container methods) in
    ``node`` where each needs the value of the one before: a call after those in its
    arguments, a comprehension's element after its conditions, a condition after its
    iterables (an upper bound of the rounds the reads there take; a call of a capitalised
    name, a class, is not counted)."""
    if isinstance(node, cst.Call):
        inner = max((call_chain(c, containers) for c in child_nodes(node)), default=0)
        ref = dotted_name(node.func)
        constructor = ref is not None and ref[-1][:1].isupper()  # ``Book(x)``: no read
        reads = _call_kind(node, containers) in ("read", "other") and not constructor
        return inner + (1 if reads else 0)
    if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
        total = 0
        for_in: cst.CompFor | None = node.for_in
        while for_in is not None:
            total += call_chain(for_in.iter, containers)
            total += max((call_chain(c.test, containers) for c in for_in.ifs), default=0)
            for_in = for_in.inner_for_in
        if isinstance(node, cst.DictComp):
            elt = max(call_chain(node.key, containers), call_chain(node.value, containers))
        else:
            elt = call_chain(node.elt, containers)
        return total + elt
    return max((call_chain(c, containers) for c in child_nodes(node)), default=0)


def _calls_something(node: cst.CSTNode, containers: frozenset[str]) -> bool:
    """Whether ``node`` calls anything that may read (a read, or any call that is not a
    harmless builtin or a container method)."""
    found = False

    def visit(n: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(n, cst.Call) and _call_kind(n, containers) in ("read", "other"):
            found = True
        return not found

    walk(node, visit)
    return found


def _branch_calls(node: cst.CSTNode, containers: frozenset[str]) -> bool:
    """Whether a branch of ``node`` (the arms of ``a if c else b``, the right of ``a or b``,
    the later comparators of a chain) calls something that is not harmless."""
    if isinstance(node, cst.IfExp):
        parts: list[cst.CSTNode] = [node.body, node.orelse]
    elif isinstance(node, cst.BooleanOperation):
        parts = [node.right]
    else:
        assert isinstance(node, cst.Comparison)
        parts = [c.comparator for c in node.comparisons[1:]]
    found = False

    def visit(n: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(n, cst.Call) and _call_kind(n, containers) in ("read", "other"):
            found = True
        if isinstance(n, cst.Yield):
            found = True
        return not found

    for part in parts:
        walk(part, visit)
    return found


def share_rounds(
    stmts: list[cst.BaseStatement],
    containers: frozenset[str],
    name_yields: Callable[[list[cst.Yield]], tuple[dict[int, str], list[cst.SimpleStatementLine]]],
    single_round: frozenset[tuple[str, ...]] = frozenset(),
    reuse: bool = False,
) -> list[cst.BaseStatement]:
    """Move each ``x = yield ...`` line (and the reads of a statement that only reads, named
    first) up to an earlier ``x = yield ...`` line it can join: no statement in between
    changes what it uses or uses what it assigns, calls anything but reads and harmless code,
    or is opaque. ``group_reads`` then merges the neighbours into one yield.

    A yield waits for all its reads, and the yields after it wait for it: a read that may
    take more than one round (a miss that reads more while it computes, a converted
    function's own yields) joins only the last yield before it, so no later read waits
    longer than it did. Only reads of ``single_round`` functions (cached functions whose
    miss reads nothing, see ``Resolver.single_round``) join the earliest yield they can.
    With ``reuse`` (``stmts`` is a function's whole body), a line that reads exactly what an
    earlier line reads (the same code, nothing in between changing what it uses or calling
    anything but reads) is not read again: its name is replaced by the earlier one, when
    both are bound once and nothing changes what they hold."""
    if sum(1 for stmt in stmts if count_yields(stmt)) < 2:
        return list(stmts)  # fewer than two statements read: nothing to share
    out: list[cst.BaseStatement] = []
    facts: list[StatementFacts] = []
    renames: dict[str, str] = {}

    def target_for(f: StatementFacts, single: bool) -> int | None:
        target = None
        for k in range(len(out) - 1, -1, -1):
            g = facts[k]
            if g.opaque or g.calls or (g.assigned & f.used) or (f.assigned & g.used):
                break
            if read_member(out[k]) is not None:
                target = k
                if not single:
                    break
            elif not single and count_yields(out[k]):
                break
        return None if target is None else _group_end(out, target)

    codes: dict[int, str] = {}

    def code_of(item: cst.CSTNode) -> str:
        code = codes.get(id(item))
        if code is None:
            code = codes[id(item)] = _code(item)
        return code

    def same_read(member: Any, f: StatementFacts) -> str | None:
        """The name of an earlier line that reads what ``member`` reads, if it may stand for
        it (both names bound once and never changed)."""
        if not reuse or not isinstance(member.target, cst.Name):
            return None
        if any(member.target.value in g.used for g in facts):
            return None
        code = code_of(member.item)
        for k in range(len(out) - 1, -1, -1):
            g = facts[k]
            if g.opaque or g.calls or (g.assigned & f.used):
                return None
            earlier = read_member(out[k])
            if (
                earlier is not None
                and isinstance(earlier.target, cst.Name)
                and code_of(earlier.item) == code
            ):
                name = earlier.target.value
                ok = name not in f.used and all(
                    _changes(stmts, n) == 1 for n in (name, member.target.value)
                )
                return name if ok else None
        return None

    for stmt in stmts:
        if renames:
            renamed = stmt.visit(NameRenamer(renames))
            assert isinstance(renamed, cst.BaseStatement)
            stmt = renamed
        f = statement_facts(stmt, containers)
        member = read_member(stmt)
        if member is not None:
            same = same_read(member, f) if safe_to_evaluate_early(member.item) else None
            if same is not None:
                assert isinstance(member.target, cst.Name)
                renames[member.target.value] = same
                continue
            single = _single_round(member.item, single_round)
            target = target_for(f, single) if safe_to_evaluate_early(member.item) else None
            if target is not None:
                out.insert(target + 1, stmt)
                facts.insert(target + 1, f)
                continue
        elif (
            isinstance(stmt, cst.SimpleStatementLine)
            and len(stmt.body) == 1
            and not f.opaque
            and not f.calls
        ):
            small = stmt.body[0]
            found: list[cst.Yield] = []
            if (
                collect_unconditional_yields(small, False, found)
                and found
                and len(found) == count_yields(small)
                and all(
                    y.value is not None
                    and not isinstance(y.value, cst.From)
                    and safe_to_evaluate_early(y.value)
                    for y in found
                )
                and target_for(
                    statement_facts(_reads_only(found), containers),
                    all(_single_round(y, single_round) for y in found),
                )
                is not None
            ):
                temps, named = name_yields(found)
                replaced: Any = small.visit(YieldReplacer(temps))
                rest = stmt.with_changes(body=[strip_yield_parens(replaced)])
                for line in named:
                    line_facts = statement_facts(line, containers)
                    line_member = read_member(line)
                    target = target_for(
                        line_facts,
                        line_member is not None and _single_round(line_member.item, single_round),
                    )
                    if target is None:
                        out.append(line)
                        facts.append(line_facts)
                    else:
                        out.insert(target + 1, line)
                        facts.insert(target + 1, line_facts)
                stmt = rest
                f = statement_facts(stmt, containers)
        out.append(stmt)
        facts.append(f)
    return out


def _group_end(stmts: list[cst.BaseStatement], index: int) -> int:
    """The last line of the yield ``group_reads`` makes of the line at ``index`` and its
    neighbours (a line joins there, keeping the order of the others)."""
    start = index
    while start > 0 and read_member(stmts[start - 1]) is not None:
        start -= 1
    assigned: set[str] = set()
    end = start
    for position in range(start, len(stmts)):
        member = read_member(stmts[position])
        if member is None:
            break
        uses = name_counts(member.item)
        if position > start and any(uses[n] for n in assigned):
            if position > index:
                break
            assigned = set()
        assigned |= member.assigned
        end = position
    return end


def _reads_only(yields: list[cst.Yield]) -> cst.SimpleStatementLine:
    """A statement that evaluates ``yields`` (for the names they use)."""
    values = [cst.Element(value=y.value) for y in yields if isinstance(y.value, cst.BaseExpression)]
    return cst.SimpleStatementLine(body=[cst.Expr(value=cst.Tuple(elements=values))])


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _single_round(node: cst.CSTNode, single_round: frozenset[tuple[str, ...]]) -> bool:
    """Whether every read (``.asynq()`` call) in ``node`` is of a function named in
    ``single_round``, and it calls nothing else but harmless builtins."""
    ok = True

    def visit(n: cst.CSTNode) -> bool:
        nonlocal ok
        if isinstance(n, cst.Call):
            func = n.func
            if isinstance(func, cst.Attribute) and func.attr.value == "asynq":
                if dotted_name(func.value) not in single_round:
                    ok = False
            elif not (isinstance(func, cst.Name) and func.value in SAFE_BUILTINS):
                ok = False
        return ok

    walk(node, visit)
    return ok


#: methods that only look into a list, dict or set
_QUERY_METHODS = frozenset({"get", "items", "keys", "values", "copy", "count", "index"})


def _changes(stmts: list[cst.BaseStatement], name: str) -> int:
    """How many places in ``stmts`` bind ``name`` or may change what it holds (an item or
    attribute assigned, a method other than a query called on it, passed to a call that is
    not a harmless builtin); mentions inside nested definitions count as changes."""
    count = 0

    def bound(target: cst.CSTNode | None) -> None:
        nonlocal count
        if target is None:
            return
        if name in target_names(target):
            count += 1
        elif isinstance(target, (cst.Subscript, cst.Attribute)) and _base_name(target) == name:
            count += 1

    def visit(node: cst.CSTNode) -> bool:
        nonlocal count
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            count += name_counts(node)[name]
            return False
        if isinstance(node, cst.Assign):
            for target in node.targets:
                bound(target.target)
                if isinstance(target.target, (cst.Tuple, cst.List)):
                    for el in target.target.elements:
                        if not isinstance(el.value, cst.Name):
                            bound(el.value)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            bound(node.target)
        elif isinstance(node, (cst.For, cst.CompFor)):
            bound(node.target)
        elif isinstance(node, cst.NamedExpr):
            bound(node.target)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            bound(node.asname.name)
        elif isinstance(node, cst.ExceptHandler) and node.name is not None:
            bound(node.name.name)
        elif isinstance(node, cst.Del):
            count += name_counts(node)[name]
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            count += sum(1 for n in node.names if n.name.value == name)
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            count += name_counts(node)[name]
        elif isinstance(node, cst.Lambda):
            count += 1 if name in param_names(node.params) else 0
        elif isinstance(node, cst.Call):
            func = node.func
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value == name
                and func.attr.value not in _QUERY_METHODS
            ):
                count += 1
            if not (isinstance(func, cst.Name) and func.value in SAFE_BUILTINS) and not (
                isinstance(func, cst.Attribute) and func.attr.value == "asynq"
            ):
                count += sum(
                    1
                    for arg in node.args
                    if isinstance(arg.value, cst.Name) and arg.value.value == name
                )
        return True

    for stmt in stmts:
        walk(stmt, visit)
    return count

"""Reads that can be fetched for every item first: loops, comprehensions, sort keys.

Each shape here is recognised the same way by the analysis (to decide) and by the
rewrite (to rewrite it). Loops and comprehensions whose reads need values read earlier
(``row = f(x)`` then ``g(row)``; ``for b in g(a)``) or that come after a filter are read in
stages: one batched yield per read, stage after stage, each only for the items that get
that far (:func:`loop_plan`, :func:`stage_comprehension`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, cast

import libcst as cst

from ._cst import (
    HARMLESS_BUILTINS,
    LocalNames,
    child_nodes,
    comp_target_names,
    consumed_genexp,
    dotted_name,
    name_counts,
    param_names,
    target_names,
    walk,
)

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)


class _UnconditionalCalls:
    """Collects the calls an expression makes every time it runs, in evaluation order: not those
    in a branch (``a if c else b``, the right of ``and``/``or``, later comparisons), nor inside a
    lambda or comprehension (their own scope). A call ``accept`` refuses is looked into instead.
    ``unsafe`` is set when the expression assigns (``:=``), yields or awaits: its reads cannot
    be moved ahead of it."""

    def __init__(self, accept: Callable[[cst.Call], bool]) -> None:
        self.accept = accept
        self.calls: list[cst.Call] = []
        #: the comprehensions it always evaluates (their calls are not in ``calls``)
        self.comps: list[cst.CSTNode] = []
        self.unsafe = False

    def collect(self, node: cst.CSTNode, conditional: bool) -> None:
        """Add the calls ``node`` always makes (``conditional``: it may not run at all)."""
        if self.unsafe:
            return
        if isinstance(node, (cst.NamedExpr, cst.Yield, cst.Await)):
            self.unsafe = True
            return
        if isinstance(node, _COMPREHENSIONS) and not conditional:
            self.comps.append(node)
            return
        if isinstance(node, (cst.Lambda, *_COMPREHENSIONS)):
            return
        if isinstance(node, cst.IfExp):
            self.collect(node.test, conditional)
            self.collect(node.body, True)
            self.collect(node.orelse, True)
            return
        if isinstance(node, cst.BooleanOperation):
            self.collect(node.left, conditional)
            self.collect(node.right, True)
            return
        if isinstance(node, cst.Comparison):
            self.collect(node.left, conditional)
            for i, target in enumerate(node.comparisons):
                self.collect(target.comparator, conditional or i > 0)
            return
        if isinstance(node, cst.Call) and not conditional and self.accept(node):
            self.calls.append(node)
            return
        for child in child_nodes(node):
            self.collect(child, conditional)


def _plain(nodes: list[cst.CSTNode], skip: frozenset[int] = frozenset()) -> bool:
    """Whether ``nodes`` call nothing but harmless builtins and hold no assignment expression,
    yield, await, lambda or comprehension (so they may be evaluated earlier, or once more);
    the nodes whose ids are in ``skip`` (calls read beforehand) are not looked into."""
    plain = True

    def visit(node: cst.CSTNode) -> bool:
        nonlocal plain
        if id(node) in skip:
            return False
        if isinstance(node, cst.Call):
            if not (isinstance(node.func, cst.Name) and node.func.value in HARMLESS_BUILTINS):
                plain = False
        elif isinstance(node, (cst.NamedExpr, cst.Yield, cst.Await, cst.Lambda, *_COMPREHENSIONS)):
            plain = False
        return plain

    for node in nodes:
        walk(node, visit)
    return plain


def _plain_arguments(call: cst.Call) -> bool:
    """Arguments that call nothing but harmless builtins (so the call may run earlier)."""
    return _plain(list(call.args))


def _names_target(target: cst.BaseExpression) -> bool:
    """A name, or an unparenthesised tuple of names (``for a, b in pairs``)."""
    if isinstance(target, cst.Name):
        return True
    return (
        isinstance(target, cst.Tuple)
        and not target.lpar
        and bool(target.elements)
        and all(
            isinstance(el, cst.Element) and isinstance(el.value, cst.Name) for el in target.elements
        )
    )


def _calls_in(node: cst.CSTNode) -> list[cst.Call]:
    """The outermost calls in ``node`` that are not harmless builtins (those are looked
    into), outside lambdas and comprehensions."""
    out: list[cst.Call] = []

    def visit(n: cst.CSTNode) -> bool:
        if isinstance(n, (cst.Lambda, *_COMPREHENSIONS)):
            return False
        if isinstance(n, cst.Call):
            if isinstance(n.func, cst.Name) and n.func.value in HARMLESS_BUILTINS:
                return True
            out.append(n)
            return False
        return True

    walk(node, visit)
    return out


def expression_depth(node: cst.CSTNode) -> int:
    """How many calls deep ``node`` is (``f(g(x))``: 2; no call: 0): the rounds its reads take
    one after another, when every call reads."""
    return max((call_depth(call) for call in _calls_in(node)), default=0)


def call_depth(call: cst.Call) -> int:
    """1, plus how many calls deep its arguments are (see :func:`expression_depth`)."""
    return 1 + max((expression_depth(arg.value) for arg in call.args), default=0)


def plain_filter(comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp) -> bool:
    """Whether the comprehension has conditions that call nothing but harmless builtins (so
    they can be evaluated once more, to filter the items first)."""
    ifs = comp.for_in.ifs
    return bool(ifs) and _plain([if_.test for if_ in ifs])


def two_phase_calls(
    comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp,
    whole_element: bool = False,
) -> list[cst.Call]:
    """Calls in a comprehension that can be made for every item first, in one batch, before
    the comprehension runs: the calls its first condition always makes, or (without a
    condition) the calls its element always makes, when there is one plain ``for`` and the
    calls' arguments call nothing (an element that calls a harmless builtin,
    ``len(f(x))``, is looked into). Empty when the comprehension has another shape. The
    ``for`` binds a name or a tuple of names (``for a, b in pairs``)."""
    for_in = comp.for_in
    if (
        for_in.inner_for_in is not None
        or for_in.asynchronous is not None
        or not _names_target(for_in.target)
    ):
        return []
    collector = _UnconditionalCalls(
        lambda call: dotted_name(call.func) is not None and _plain_arguments(call)
    )
    collect = collector.collect

    if for_in.ifs and not plain_filter(comp):
        collect(for_in.ifs[0].test, False)
    else:
        # No condition, or one that calls nothing: the element runs for every item that
        # passes it (the items are filtered first, see the rewrite).
        parts = [comp.key, comp.value] if isinstance(comp, cst.DictComp) else [comp.elt]
        for part in parts:
            # An element that is the call is one batch already (unless asked for it); a
            # harmless builtin (``range(f(x) % 4)``) reads nothing itself.
            builtin = (
                isinstance(part, cst.Call)
                and isinstance(part.func, cst.Name)
                and part.func.value in HARMLESS_BUILTINS
            )
            if whole_element or builtin or not isinstance(part, cst.Call):
                collect(part, False)
    return [] if collector.unsafe else collector.calls


_SORTERS = frozenset({"sorted", "min", "max"})


def sort_key_reads(
    call: cst.Call,
) -> tuple[cst.Lambda, cst.BaseExpression, list[cst.Call]] | None:
    """``sorted(xs, key=lambda x: ...)`` (also ``min``, ``max``, ``xs.sort(key=...)``) whose
    key makes calls every time with arguments that depend only on the item: (the lambda, the
    items, the calls). The values can be fetched for every item first, into a dict the key
    reads. None for any other call."""
    func = call.func
    items: cst.BaseExpression | None = None
    if isinstance(func, cst.Name) and func.value in _SORTERS:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if len(positional) == 1:
            items = positional[0].value
    elif isinstance(func, cst.Attribute) and func.attr.value == "sort":
        items = func.value
    if items is None or dotted_name(items) is None:
        return None
    key = next((a.value for a in call.args if a.keyword and a.keyword.value == "key"), None)
    if not isinstance(key, cst.Lambda):
        return None
    params = key.params
    if (
        len(params.params) != 1
        or params.posonly_params
        or params.kwonly_params
        or isinstance(params.star_arg, cst.Param)
        or params.star_kwarg is not None
    ):
        return None
    fake = cst.ListComp(
        elt=key.body,
        for_in=cst.CompFor(target=params.params[0].name, iter=cst.Name("_")),
    )
    calls = two_phase_calls(fake, whole_element=True)
    return (key, items, calls) if calls else None


def _jumps(node: cst.CSTNode) -> bool:
    """Whether ``node`` contains ``continue``, ``break``, ``return`` or ``raise`` (outside
    nested functions)."""
    found = False

    def visit(n: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(n, (cst.Continue, cst.Break, cst.Return, cst.Raise)):
            found = True
        return not found and not isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda))

    walk(node, visit)
    return found


def _free_names(node: cst.CSTNode) -> set[str]:
    """Identifiers ``node`` reads or binds, without attribute names and keywords."""
    out: set[str] = set()

    def visit(n: cst.CSTNode) -> bool:
        if type(n) is cst.Name:
            out.add(n.value)
        elif isinstance(n, cst.Attribute):
            walk(n.value, visit)
            return False
        elif isinstance(n, cst.Arg):
            walk(n.value, visit)
            return False
        return True

    walk(node, visit)
    return out


def _guard_test(stmt: cst.BaseStatement) -> cst.BaseExpression | None:
    """The test of ``if <test>: continue`` (nothing else in the block, no ``else``)."""
    if not isinstance(stmt, cst.If) or stmt.orelse is not None:
        return None
    body = stmt.body
    smalls: Sequence[cst.BaseSmallStatement]
    if isinstance(body, cst.IndentedBlock):
        line = body.body[0] if len(body.body) == 1 else None
        if not isinstance(line, cst.SimpleStatementLine):
            return None
        smalls = line.body
    else:
        assert isinstance(body, cst.SimpleStatementSuite)
        smalls = body.body
    if len(smalls) != 1 or not isinstance(smalls[0], cst.Continue):
        return None
    return stmt.test


_CONSTANT_NAMES = frozenset({"None", "True", "False"})


class _WithoutCalls(cst.CSTTransformer):
    """Replaces the calls named by ``id`` with ``None`` (what is left of an expression once
    they are read before it)."""

    def __init__(self, calls: set[int] | frozenset[int]) -> None:
        super().__init__()
        self.calls = calls

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return cst.Name("None") if id(original_node) in self.calls else updated_node


@dataclasses.dataclass
class LoopRead:
    """A call a ``for`` loop makes in every iteration that gets this far, which can be made
    for every item first, in one batched yield before the loop (see :func:`loop_plan`).

    ``stage`` is 1 when the call's arguments need only the item; n when they need a value
    read in stage n - 1 (``row = f(x)`` then ``g(row["id"])``), or when a guard before it
    does. ``guards``: how many ``if ...: continue`` guards come before it (the call is made
    only for the items that pass them). ``name``: the name the value is assigned to
    (``row = f(x)``), when the loop may use it to stage later calls. ``after``: the calls
    (of this plan) that must be reads for this one to be made before the loop. ``comp``:
    the comprehension of the loop body the call is the element of (or is inside the
    element of), when the call is made for every item of it
    (``sum(len(f(u, x)) for u in users)``): it is then read as a list per item.
    """

    call: cst.Call
    stage: int
    guards: int
    name: str | None
    after: list[cst.Call]
    comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp | None = None


@dataclasses.dataclass
class LoopPlan:
    """The calls a ``for`` loop makes that can be read before it, in stages, the
    ``if <test>: continue`` guards that filter the items of later stages, and the names
    the loop assigns once from reads and plain code (``total = len(f(x))``), with their
    values, which guards and later reads may use."""

    reads: list[LoopRead]
    guards: list[cst.BaseExpression]
    derived: dict[str, cst.BaseExpression] = dataclasses.field(default_factory=dict)

    @property
    def calls(self) -> list[cst.Call]:
        return [r.call for r in self.reads]


_NO_PLAN = LoopPlan([], [])


def _consumed(stmt: cst.CSTNode) -> set[int]:
    """Generator expressions in ``stmt`` consumed at once (``sum(f(x) for x in xs)``)."""
    out: set[int] = set()

    def visit(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Call):
            gen = consumed_genexp(node)
            if gen is not None:
                out.add(id(gen))
        return True

    walk(stmt, visit)
    return out


_ITERATORS = frozenset({"enumerate", "zip", "reversed", "iter", "map", "filter"})


def _one_shot(nodes: list[cst.BaseExpression]) -> bool:
    """Whether ``nodes`` call a builtin that makes an iterator (it could be iterated once)."""
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, cst.Call) and dotted_name(node.func) in {(n,) for n in _ITERATORS}:
            found = True
        return not found

    for node in nodes:
        walk(node, visit)
    return found


def _untouched(names: set[str], statements: list[cst.BaseStatement], index: int) -> bool:
    """Whether no statement of the loop body but ``statements[index]`` and the guards
    mentions ``names`` (so no iteration can change what they hold)."""
    if not names:
        return True
    for i, stmt in enumerate(statements):
        if i == index or _guard_test(stmt) is not None:
            continue
        if names & set(name_counts(stmt)):
            return False
    return True


def search_plan(loop: cst.For) -> LoopPlan:
    """For a loop that may stop early (``break``, ``return``, ``raise``; a search): the reads
    :func:`loop_plan` would make for every item before it, were it not for the early stop,
    that need only the item (no stage after other reads, no guard). Reading them first reads
    keys of items the loop may never reach, so the analysis allows it only when the twin
    primes the same call for every item anyway; the loop then stops where it did."""
    plan = loop_plan(loop, stops_early=True)  # nothing when the loop does not stop early
    reads = [r for r in plan.reads if r.stage == 1 and not r.guards and r.comp is None]
    return LoopPlan(reads, []) if reads else _NO_PLAN


def loop_plan(loop: cst.For, stops_early: bool = False) -> LoopPlan:
    """The calls a ``for`` loop makes in every iteration (up to its first statement that
    may jump, other than a guard ``if <test>: continue``), whose arguments depend only on
    the loop variable, on names the loop does not assign and on values the loop read
    earlier in the same iteration (``row = f(x)`` assigned once, then ``g(row["id"])``; or
    ``total = len(f(x))``, a value computed once from reads by plain code). They can be
    made for every item first, one batched yield per call, stage after stage, before the
    loop (then the loop runs over ``zip(items, values...)``). A comprehension of the body
    whose element reads is read as a list per item when what it iterates is known before
    the loop (``sum(len(f(u, x)) for u in users)`` where ``users = g(x)``). A guard's test
    may use only the loop variable, such values, calls of this plan and names the rest of
    the loop does not touch: the items it drops are not read by later stages. A loop that
    may stop early has no plan, unless ``stops_early`` asks for the plan of exactly such a
    loop (see :func:`search_plan`)."""
    if (
        loop.orelse is not None
        or loop.asynchronous is not None
        or not isinstance(loop.target, cst.Name)
        or not isinstance(loop.body, cst.IndentedBlock)
    ):
        return _NO_PLAN
    stops = False

    def stop(n: cst.CSTNode) -> bool:
        nonlocal stops
        if isinstance(n, (cst.Break, cst.Return, cst.Raise)):
            stops = True
        return not stops and not isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda))

    walk(loop.body, stop)
    if stops != stops_early:
        return _NO_PLAN  # it may stop early (maybe over an endless iterator): read as it goes
    item = loop.target.value
    statements = list(loop.body.body)
    assigned_visitor = LocalNames()
    loop.body.visit(assigned_visitor)
    assigned = assigned_visitor.names - {item}
    #: values read earlier in the iteration: name -> its read
    named: dict[str, LoopRead] = {}
    #: values computed once from such reads by plain code: name -> (value, the reads it needs)
    derived: dict[str, tuple[cst.BaseExpression, list[LoopRead]]] = {}
    reads: list[LoopRead] = []
    guards: list[cst.BaseExpression] = []
    guard_after: list[cst.Call] = []  # the calls every guard so far needs
    guard_stage = 0

    def known(n: str) -> bool:
        return n not in assigned or n in named or n in derived

    def accept(call: cst.Call, bound: frozenset[str] = frozenset()) -> bool:
        if dotted_name(call.func) is None or not _plain_arguments(call):
            return False
        if isinstance(call.func, cst.Name) and call.func.value in HARMLESS_BUILTINS:
            return False  # ``len(row)``: plain code, evaluated again where needed
        used = set().union(*(_free_names(arg) for arg in call.args)) if call.args else set()
        return all(known(n) for n in used - bound)

    def sources(used: set[str]) -> tuple[int, list[cst.Call]]:
        """The stage after the values ``used`` names, and the calls they need."""
        stage, after = 0, []
        for name in sorted(used):
            if name in named:
                source = named[name]
                stage = max(stage, source.stage)
                after.extend([*source.after, source.call])
            elif name in derived:
                for source in derived[name][1]:
                    stage = max(stage, source.stage)
                    after.extend([*source.after, source.call])
        return stage, after

    def add(
        calls: list[cst.Call],
        comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp | None = None,
    ) -> list[LoopRead]:
        out = []
        for call in calls:
            used = set().union(*(_free_names(arg) for arg in call.args)) if call.args else set()
            if comp is not None:
                used = (used - comp_target_names(comp)) | _free_names(comp.for_in.iter)
            stage, after = 1, list(guard_after)
            if guards:
                stage = guard_stage + 1
            before, needed = sources(used)
            stage = max(stage, before + 1)
            after.extend(needed)
            read = LoopRead(call, stage, len(guards), None, list(dict.fromkeys(after)), comp)
            out.append(read)
        reads.extend(out)
        return out

    def comprehension_reads(comps: list[cst.CSTNode], consumed: set[int]) -> list[LoopRead]:
        """The reads of the comprehensions a statement always evaluates, made for every
        item of each (a list per iteration of the loop)."""
        out: list[LoopRead] = []
        for comp in comps:
            assert isinstance(comp, _COMPREHENSIONS)
            for_in = comp.for_in
            if (
                (isinstance(comp, cst.GeneratorExp) and id(comp) not in consumed)
                or for_in.inner_for_in is not None
                or for_in.asynchronous is not None
                or for_in.ifs
                or not _names_target(for_in.target)
                or not _plain([for_in.iter])
            ):
                continue
            # What it iterates must be a value known before the loop, iterable again: made
            # from values read or computed in the iteration (or from the item, not the item
            # itself, which may be an iterator), by no builtin that makes an iterator.
            iterated = _free_names(for_in.iter) - HARMLESS_BUILTINS - _CONSTANT_NAMES
            if (
                not all(n == item or n in named or n in derived for n in iterated)
                or (isinstance(for_in.iter, cst.Name) and for_in.iter.value == item)
                or _one_shot([for_in.iter, *(derived[n][0] for n in iterated if n in derived)])
            ):
                continue
            bound = frozenset(comp_target_names(comp))
            calls = [
                c
                for c in two_phase_calls(comp, whole_element=True)
                if accept(c, bound)
            ]
            out.extend(add(calls, comp))
        return out

    for index, stmt in enumerate(statements):
        collector = _UnconditionalCalls(accept)
        test = _guard_test(stmt)
        if test is not None:
            collector.collect(test, False)
            if collector.unsafe:
                break
            found = add(collector.calls)
            if not _guardable(test, found, item, {*named, *derived}, statements, index):
                break
            guards.append(test)
            before, needed = sources(_free_names(test))
            guard_after.extend(c for r in found for c in [*r.after, r.call])
            guard_after.extend(needed)
            guard_after[:] = list(dict.fromkeys(guard_after))
            guard_stage = max([guard_stage, before, *(r.stage for r in found)])
            continue
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                collector.collect(small, False)
        elif isinstance(stmt, cst.If):
            collector.collect(stmt.test, False)
        elif isinstance(stmt, cst.For):
            collector.collect(stmt.iter, False)
        else:
            break
        if collector.unsafe:
            break
        found = add(collector.calls)
        if isinstance(stmt, cst.SimpleStatementLine):
            found += comprehension_reads(collector.comps, _consumed(stmt))
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
            assigned_read = _assigned_read(stmt.body[0], found)
            if assigned_read is not None:
                name, read = assigned_read
                if name != item and _bound_once(name, statements, index):
                    read.name = name
                    named[name] = read
            else:
                value = _derived_value(stmt.body[0], found, item, statements, index)
                if value is not None:
                    name, expr, used = value
                    others = used - {item} - set(named) - set(derived)
                    if all(known(n) for n in others) and _untouched(others, statements, index):
                        derived[name] = (expr, [r for r in found if not r.comp])
        if _jumps(stmt):
            break
    return LoopPlan(reads, guards, {name: value for name, (value, _) in derived.items()})


def run_once_statements(loop: cst.For) -> list[cst.BaseStatement]:
    """Statements of a ``for`` loop's body that run at most once per call of the function:
    those of a block (the loop body, or an ``if``/``else`` inside it) that an unconditional
    ``return`` of the same block follows, with nothing in between (them included) that could
    go round the loop again (``continue``, ``break``, a loop, a ``try``). A read there is made
    once, so it can be a yield where it is (``row = f(x)`` then ``return row["title"]``)."""
    out: list[cst.BaseStatement] = []

    def block(statements: Sequence[cst.BaseStatement]) -> None:
        end = next(
            (
                i
                for i, stmt in enumerate(statements)
                if isinstance(stmt, cst.SimpleStatementLine)
                and any(isinstance(small, cst.Return) for small in stmt.body)
            ),
            None,
        )
        if end is not None:
            tail = list(statements[: end + 1])
            start = end
            while start > 0 and _runs_through(tail[start - 1]):
                start -= 1
            if all(_runs_through(stmt) for stmt in tail[start:end]) and _plain_line(tail[end]):
                out.extend(tail[start : end + 1])
        for stmt in statements[: end if end is not None else len(statements)]:
            if isinstance(stmt, cst.If):
                branch: cst.If | cst.Else | None = stmt
                while branch is not None:
                    if isinstance(branch.body, cst.IndentedBlock):
                        block(branch.body.body)
                    branch = branch.orelse if isinstance(branch, cst.If) else None

    if loop.orelse is None and loop.asynchronous is None and isinstance(
        loop.body, cst.IndentedBlock
    ):
        block(loop.body.body)
    return out


def _runs_through(stmt: cst.BaseStatement) -> bool:
    """A statement that runs to its end, or raises: no loop, ``try``, ``continue``,
    ``break``, ``return`` or nested definition in it."""
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(
            node,
            (
                cst.For,
                cst.While,
                cst.Try,
                cst.TryStar,
                cst.Continue,
                cst.Break,
                cst.Return,
                cst.FunctionDef,
                cst.ClassDef,
                cst.With,
                cst.Match,
            ),
        ):
            found = True
        return not found

    walk(stmt, visit)
    return not found


def _plain_line(stmt: cst.BaseStatement) -> bool:
    """``return ...`` (maybe after other small statements that run through)."""
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(small, cst.Return) or _runs_through(cst.SimpleStatementLine([small]))
        for small in stmt.body
    )


def _derived_value(
    small: cst.BaseSmallStatement,
    found: list[LoopRead],
    item: str,
    statements: list[cst.BaseStatement],
    index: int,
) -> tuple[str, cst.BaseExpression, set[str]] | None:
    """``name = <plain code over the calls found>`` (``total = len(f(x))``), the name bound
    nowhere else in the loop: the name, the value and the names the value uses. None when
    the value calls anything else, or uses names other statements of the loop touch."""
    if not (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
    ):
        return None
    name = small.targets[0].target.value
    if name == item or not _bound_once(name, statements, index):
        return None
    own = frozenset(id(r.call) for r in found if r.comp is None)
    if not _plain([small.value], own):
        return None
    rest = cast(cst.CSTNode, small.value.visit(_WithoutCalls(own)))
    used = _free_names(rest) - HARMLESS_BUILTINS - _CONSTANT_NAMES
    return name, small.value, used


def _assigned_read(
    small: cst.BaseSmallStatement, found: list[LoopRead]
) -> tuple[str, LoopRead] | None:
    """``name = <one of the calls found>``: the name and that read."""
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
    ):
        for read in found:
            if read.call is small.value:
                return small.targets[0].target.value, read
    return None


def _bound_once(name: str, statements: list[cst.BaseStatement], index: int) -> bool:
    """Whether ``statements[index]`` (``name = ...``) is the only binding of ``name`` in the
    loop body, and no statement before it mentions the name (it would see the value of the
    previous iteration)."""
    for i, stmt in enumerate(statements):
        if i < index and name in name_counts(stmt):
            return False
        if i != index:
            visitor = LocalNames()
            stmt.visit(visitor)
            if name in visitor.names:
                return False
    return True


def _guardable(
    test: cst.BaseExpression,
    found: list[LoopRead],
    item: str,
    values: set[str],
    statements: list[cst.BaseStatement],
    index: int,
) -> bool:
    """Whether a guard's test can be evaluated for every item before the loop: it calls
    nothing but harmless builtins and the calls found in it, assigns nothing, and names only
    the loop variable, values computed earlier in the iteration (``values``), and names
    that no other statement of the loop mentions (so no iteration can change them)."""
    own = frozenset(id(r.call) for r in found)
    if not _plain([test], own):
        return False
    rest = cast(cst.CSTNode, test.visit(_WithoutCalls(own)))  # the calls are read first
    others = _free_names(rest) - {item} - values - HARMLESS_BUILTINS - _CONSTANT_NAMES
    return _untouched(others, statements, index)


@dataclasses.dataclass
class CollectLoop:
    """A ``for`` loop that collects one call per item into a list or dict.

    ``for x in xs: out.append(f(x))`` (``kind == "append"``) or
    ``for x in xs: out[k] = f(x)`` (``kind == "setitem"``), optionally with the body
    wrapped in an ``if`` without ``else``.
    """

    kind: str
    container: str
    value: cst.Call
    key: cst.BaseExpression | None
    condition: cst.BaseExpression | None


def _single_statement(block: cst.BaseSuite) -> cst.BaseStatement | None:
    if isinstance(block, cst.IndentedBlock) and len(block.body) == 1:
        return block.body[0]
    return None


def _container_kind(fn: cst.FunctionDef, name: str) -> str | None:
    """``"list"``/``"dict"`` when every assignment to ``name`` in ``fn`` builds that type."""
    kinds: set[str] = set()
    bad = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal bad
        if isinstance(node, cst.Assign):
            if any(name in target_names(t.target) for t in node.targets):
                value = node.value
                if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
                    bad = True
                elif isinstance(value, cst.List) or (
                    isinstance(value, cst.Call) and dotted_name(value.func) == ("list",)
                ):
                    kinds.add("list")
                elif isinstance(value, cst.Dict) or (
                    isinstance(value, cst.Call) and dotted_name(value.func) == ("dict",)
                ):
                    kinds.add("dict")
                else:
                    bad = True
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr)):
            if name in target_names(node.target):
                bad = True
        elif isinstance(node, cst.AsName):
            if name in target_names(node.name):
                bad = True
        return not bad

    walk(fn.body, visit)
    if bad or len(kinds) != 1 or name in param_names(fn.params):
        return None
    return kinds.pop()


def match_collect_loop(node: cst.For, fn: cst.FunctionDef | None) -> CollectLoop | None:
    """Recognise a loop that appends (or stores) one call per item; see :class:`CollectLoop`.

    The container must be a local list (dict) built in ``fn``; the loop variables must
    not be used after the loop (a comprehension does not leak them), and the container
    must not be read inside the loop.
    """
    if fn is None or node.asynchronous is not None or node.orelse is not None:
        return None
    stmt = _single_statement(node.body)
    condition: cst.BaseExpression | None = None
    if isinstance(stmt, cst.If) and stmt.orelse is None:
        condition = stmt.test
        stmt = _single_statement(stmt.body)
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    loop: CollectLoop | None = None
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        call = small.value
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.attr.value == "append"
            and len(call.args) == 1
            and call.args[0].keyword is None
            and not call.args[0].star
            and isinstance(call.args[0].value, cst.Call)
        ):
            loop = CollectLoop("append", func.value.value, call.args[0].value, None, condition)
    elif (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.value, cst.Call)
    ):
        target = small.targets[0].target
        if (
            isinstance(target, cst.Subscript)
            and isinstance(target.value, cst.Name)
            and len(target.slice) == 1
            and isinstance(target.slice[0].slice, cst.Index)
            and target.slice[0].slice.star is None
        ):
            loop = CollectLoop(
                "setitem", target.value.value, small.value, target.slice[0].slice.value, condition
            )
    if loop is None or dotted_name(loop.value.func) is None:
        return None
    expected = "list" if loop.kind == "append" else "dict"
    if _container_kind(fn, loop.container) != expected:
        return None
    loop_vars = target_names(node.target)
    if not loop_vars or loop.container in loop_vars:
        return None
    inside = name_counts(node)
    if inside[loop.container] != 1:  # only the append/store itself may mention it
        return None
    if any(_used_elsewhere(fn, node, v) for v in loop_vars):
        return None
    return loop


def _used_elsewhere(fn: cst.FunctionDef, loop: cst.For, name: str) -> bool:
    """Whether ``name`` (a loop variable of ``loop``) is used in ``fn`` outside the loops
    and comprehensions that bind it themselves (after the loop it would see the last item)."""
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if found or node is loop:
            return False
        if isinstance(node, cst.For) and name in target_names(node.target):
            return False
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            if name in comp_target_names(node):
                return False
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            return False
        if type(node) is cst.Name and node.value == name:
            found = True
        return not found

    walk(fn.body, visit)
    return found


@dataclasses.dataclass
class StagedComprehension:
    """A comprehension with two ``for`` clauses, read in stages (see
    :func:`stage_comprehension`): the statements that come before it, and what replaces it.
    Both hold the comprehension's own nodes, so its reads keep their identity."""

    lines: list[cst.SimpleStatementLine]
    final: cst.BaseExpression
    #: the comprehensions of the lines and the final one
    comprehensions: list[cst.CSTNode]
    #: how many of the lines (and the final comprehension) read: its stages
    stages: int
    #: nodes of ``final`` that stand for nodes of the original comprehension (a read whose
    #: argument was read in an earlier stage): id of the new node -> id of the original
    renamed: dict[int, int] = dataclasses.field(default_factory=dict)


def _has_calls(nodes: Sequence[cst.CSTNode]) -> bool:
    found = False

    def visit(node: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(node, cst.Call) and not (
            isinstance(node.func, cst.Name) and node.func.value in HARMLESS_BUILTINS
        ):
            found = True
        return not found

    for node in nodes:
        walk(node, visit)
    return found


def _line(name: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(
        body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value)]
    )


def _one_line(ifs: Sequence[cst.CompIf]) -> list[cst.CompIf]:
    """Conditions moved into a new comprehension, each after a single space."""
    return [i.with_changes(whitespace_before=cst.SimpleWhitespace(" ")) for i in ifs]


def _filter_then_read(
    comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp,
    fresh: Callable[[str], str],
) -> StagedComprehension | None:
    """``[e(x) for x in xs if c(x)]`` whose condition and element both read (the element more
    than exactly one call): the items that pass first (``x_items = [x for x in xs if c(x)]``,
    read in two phases), then the comprehension over them, so the element is read only for
    the items that pass."""
    for_in = comp.for_in
    if (
        for_in.inner_for_in is not None
        or for_in.asynchronous is not None
        or not _names_target(for_in.target)
    ):
        return None
    parts = [comp.key, comp.value] if isinstance(comp, cst.DictComp) else [comp.elt]
    if not for_in.ifs or not _has_calls([i.test for i in for_in.ifs]):
        return None
    if not _has_calls(parts):
        return None
    elt = comp.elt if not isinstance(comp, cst.DictComp) else None
    if (
        isinstance(elt, cst.Call)
        and not (isinstance(elt.func, cst.Name) and elt.func.value in HARMLESS_BUILTINS)
        and not _nested_reads(comp)
    ):
        return None  # one batched yield over the items that pass already
    x = for_in.target
    items = fresh(f"{_target_base(x)}_items")
    line = _line(
        items,
        cst.ListComp(
            elt=_as_element(x),
            for_in=cst.CompFor(target=x, iter=for_in.iter, ifs=_one_line(for_in.ifs)),
        ),
    )
    final = comp.with_changes(for_in=cst.CompFor(target=x, iter=cst.Name(items)))
    return StagedComprehension([line], final, [final], 2)


def _target_base(target: cst.BaseExpression) -> str:
    """A base for names made from a comprehension's target (``x``; ``a_b`` for ``a, b``)."""
    if isinstance(target, cst.Name):
        return target.value
    assert isinstance(target, cst.Tuple)
    return "_".join(
        el.value.value for el in target.elements if isinstance(el.value, cst.Name)
    )


def _as_element(target: cst.BaseExpression) -> cst.BaseExpression:
    """A target as a value inside a larger expression (a tuple of names gets parentheses)."""
    if isinstance(target, cst.Tuple):
        return target.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return target


def _nested_reads(
    comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp,
) -> list[cst.Call]:
    """The calls the element of a one-clause comprehension always makes (see
    :func:`two_phase_calls`) that sit inside the arguments of another call that is not a
    harmless builtin (``g(h(x)["id"])``): the value of each is needed before the outer call
    can be read, so they come in an earlier stage."""
    calls = two_phase_calls(comp.with_changes(for_in=comp.for_in.with_changes(ifs=[])), True)
    if not calls:
        return []
    wanted = {id(c) for c in calls}
    nested: set[int] = set()
    parts = [comp.key, comp.value] if isinstance(comp, cst.DictComp) else [comp.elt]

    def visit(node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.Lambda, *_COMPREHENSIONS)):
            return False
        if isinstance(node, cst.Call) and not (
            isinstance(node.func, cst.Name) and node.func.value in HARMLESS_BUILTINS
        ):
            for arg in node.args:

                def inner(n: cst.CSTNode) -> bool:
                    if id(n) in wanted:
                        nested.add(id(n))
                        return False
                    return not isinstance(n, (cst.Lambda, *_COMPREHENSIONS))

                walk(arg, inner)
        return True

    for part in parts:
        walk(part, visit)
    return [c for c in calls if id(c) in nested]


class _Renaming(cst.CSTTransformer):
    """Replaces nodes by identity, and remembers which new node stands for which original one
    (``renamed``: id of the new node -> id of the original), so that reads keep their
    identity through the change."""

    def __init__(self, replace: dict[int, cst.BaseExpression]) -> None:
        super().__init__()
        self.replace = replace
        self.renamed: dict[int, int] = {}

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        found = self.replace.get(id(original_node))
        if found is not None:
            return found
        if updated_node is original_node or updated_node.deep_equals(original_node):
            return original_node
        self.renamed[id(updated_node)] = id(original_node)
        return updated_node


def _element_stages(
    comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp,
    fresh: Callable[[str], str],
    reiterable: Callable[[cst.BaseExpression], bool],
) -> tuple[StagedComprehension, dict[int, int]] | None:
    """``[g(h(x)["id"]) for x in xs]``: a one-clause comprehension whose element reads a
    value another read of it needs, read in stages: ``h_values = [h(x) for x in xs]`` (one
    batched yield), then the comprehension over ``zip(xs, h_values)`` with ``h_value`` in
    place of the inner read, and so on while reads are nested. Items that a condition
    (calling nothing) drops are dropped first. Also returns which new nodes stand for which
    original ones (see :class:`_Renaming`)."""
    for_in = comp.for_in
    if (
        for_in.inner_for_in is not None
        or for_in.asynchronous is not None
        or not _names_target(for_in.target)
        or (for_in.ifs and _has_calls([i.test for i in for_in.ifs]))
    ):
        return None
    if not _nested_reads(comp):
        return None
    lines: list[cst.SimpleStatementLine] = []
    target = for_in.target
    items_expr: cst.BaseExpression
    if for_in.ifs:
        items = fresh(f"{_target_base(target)}_items")
        lines.append(
            _line(
                items,
                cst.ListComp(
                    elt=_as_element(target),
                    for_in=cst.CompFor(target=target, iter=for_in.iter, ifs=_one_line(for_in.ifs)),
                ),
            )
        )
        items_expr = cst.Name(items)
    elif reiterable(for_in.iter):
        items_expr = for_in.iter
    else:
        items = fresh(f"{_target_base(target)}_items")
        lines.append(_line(items, cst.Call(func=cst.Name("list"), args=[cst.Arg(for_in.iter)])))
        items_expr = cst.Name(items)
    current = comp.with_changes(for_in=cst.CompFor(target=target, iter=items_expr))
    renamed: dict[int, int] = {}
    trees = [current]  # kept alive while ``renamed`` names their nodes
    names: list[cst.Name] = []
    values: list[cst.Name] = []
    for _ in range(8):
        if not _nested_reads(current):
            break
        # Every read the element can make now, in this stage: the nested ones, and the
        # others that need no other read (the twin primes them as early).
        nested = two_phase_calls(current, True)
        comp_target: cst.BaseAssignTargetExpression = (
            cst.Tuple(
                [cst.Element(_as_element(target)), *(cst.Element(n) for n in names)],
                lpar=[],
                rpar=[],
            )
            if names
            else target
        )
        comp_iter: cst.BaseExpression = (
            cst.Call(
                func=cst.Name("zip"),
                args=[cst.Arg(items_expr), *(cst.Arg(v) for v in values)],
            )
            if names
            else items_expr
        )
        replace: dict[int, cst.BaseExpression] = {}
        for call in nested:
            ref = dotted_name(call.func)
            base = ref[-1] if ref else "read"
            value_list = cst.Name(fresh(f"{base}_values"))
            lines.append(
                _line(
                    value_list.value,
                    cst.ListComp(elt=call, for_in=cst.CompFor(target=comp_target, iter=comp_iter)),
                )
            )
            each = cst.Name(fresh(f"{base}_value"))
            names.append(each)
            values.append(value_list)
            replace[id(call)] = each
        renaming = _Renaming(replace)
        current = cast(
            "cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp",
            current.visit(renaming),
        )
        trees.append(current)
        for new, old in renaming.renamed.items():
            renamed[new] = renamed.pop(old, old)
    else:
        return None  # nested deeper than the stages made here
    final = current.with_changes(
        for_in=cst.CompFor(
            target=cst.Tuple(
                [cst.Element(_as_element(target)), *(cst.Element(n) for n in names)],
                lpar=[],
                rpar=[],
            ),
            iter=cst.Call(
                func=cst.Name("zip"),
                args=[cst.Arg(items_expr), *(cst.Arg(v) for v in values)],
            ),
        )
    )
    levels = len(trees) - 1  # one renaming per stage
    return StagedComprehension(lines, final, [final], levels), renamed


def stage_comprehension(
    comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp,
    fresh: Callable[[str], str],
    reiterable: Callable[[cst.BaseExpression], bool] = lambda items: False,
) -> StagedComprehension | None:
    """A comprehension read in stages: two ``for`` clauses (see :func:`_two_clauses`), then a
    condition and an element that both read (see :func:`_filter_then_read`), then reads of
    the element that need other reads of it (see :func:`_element_stages`), each step on what
    the one before left. ``stages`` counts the lines that read, and the last comprehension if
    it reads. None when no step applies."""
    lines: list[cst.SimpleStatementLine] = []
    final: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp = comp
    renamed: dict[int, int] = {}
    two = _two_clauses(comp, fresh, reiterable)
    if two is not None:
        lines.extend(two.lines)
        final = cast("cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp", two.final)
    filtered = _filter_then_read(final, fresh)
    if filtered is not None:
        lines.extend(filtered.lines)
        final = cast(
            "cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp", filtered.final
        )
    made = _fresh_names(lines)
    stages = sum(_has_calls([_assigned_value(line)]) for line in lines)
    elements = _element_stages(final, fresh, lambda items: reiterable(items) or made(items))
    if elements is not None:
        stages += elements[0].stages
        lines.extend(elements[0].lines)
        final = cast(
            "cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp", elements[0].final
        )
        renamed = elements[1]
    if not lines:
        return None
    parts = [final.key, final.value] if isinstance(final, cst.DictComp) else [final.elt]
    stages += _has_calls([*(i.test for i in final.for_in.ifs), *parts])
    comps: list[cst.CSTNode] = [final]
    for line in lines:
        small = line.body[0]
        if isinstance(small, cst.Assign) and isinstance(small.value, cst.ListComp):
            comps.append(small.value)
    return StagedComprehension(lines, final, comps, stages, renamed)


def _assigned_value(line: cst.SimpleStatementLine) -> cst.BaseExpression:
    """The value of a line ``name = <value>`` (made by :func:`_line`)."""
    small = line.body[0]
    assert isinstance(small, cst.Assign)
    return small.value


def _fresh_names(
    lines: list[cst.SimpleStatementLine],
) -> Callable[[cst.BaseExpression], bool]:
    """Whether an iterable is one of the lists ``lines`` assign (it may be iterated again)."""
    made = {
        target.target.value
        for line in lines
        for small in line.body
        if isinstance(small, cst.Assign)
        for target in small.targets
        if isinstance(target.target, cst.Name)
    }
    return lambda items: isinstance(items, cst.Name) and items.value in made


def _two_clauses(
    comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp,
    fresh: Callable[[str], str],
    reiterable: Callable[[cst.BaseExpression], bool],
) -> StagedComprehension | None:
    """``[e for a in xs if c(a) for b in g(a) if d(a, b)]`` whose inner clause, conditions or
    element call something, read in stages: the items of the first clause that pass its
    conditions (``a_items = [a for a in xs if c(a)]``), what the inner clause iterates for
    each of them (``b_lists = [g(a) for a in a_items]``), the pairs
    (``a_b_pairs = [(a, b) for a, b_list in zip(a_items, b_lists) for b in b_list]``), and the
    comprehension over the pairs (``[e for a, b in a_b_pairs if d(a, b)]``). Each line has one
    ``for``, so the rules for one-clause comprehensions read it (one batched yield per read).
    ``fresh`` makes the new names; the first clause's iterable is used as it is when
    ``reiterable`` says it is a name that may be iterated twice and the clause has no
    condition. None for any other comprehension (only plain names as
    targets; the first clause's iterable is read where it is)."""
    outer = comp.for_in
    inner = outer.inner_for_in
    if inner is None:
        return None
    if (
        inner.inner_for_in is not None
        or outer.asynchronous is not None
        or inner.asynchronous is not None
        or not isinstance(outer.target, cst.Name)
        or not isinstance(inner.target, cst.Name)
        or outer.target.value == inner.target.value
    ):
        return None
    parts = [comp.key, comp.value] if isinstance(comp, cst.DictComp) else [comp.elt]
    if not _has_calls([inner.iter, *(i.test for i in inner.ifs), *parts]):
        return None
    a, b = outer.target, inner.target
    if any(name_counts(i.test)[b.value] for i in outer.ifs):
        return None  # cannot happen in valid code, but keep the shapes honest
    lists = fresh(f"{b.value}_lists")
    pairs = fresh(f"{a.value}_{b.value}_pairs")
    each = fresh(f"{b.value}_list")
    lines: list[cst.SimpleStatementLine] = []
    stages = 0
    items_expr: cst.BaseExpression
    if outer.ifs:
        items = fresh(f"{a.value}_items")
        items_expr = cst.Name(items)
        lines.append(
            _line(
                items,
                cst.ListComp(
                    elt=a, for_in=cst.CompFor(target=a, iter=outer.iter, ifs=_one_line(outer.ifs))
                ),
            )
        )
        stages += _has_calls([i.test for i in outer.ifs])
    elif reiterable(outer.iter):
        items_expr = outer.iter
    else:
        items = fresh(f"{a.value}_items")
        items_expr = cst.Name(items)
        lines.append(_line(items, cst.Call(func=cst.Name("list"), args=[cst.Arg(outer.iter)])))
    lines.append(
        _line(lists, cst.ListComp(elt=inner.iter, for_in=cst.CompFor(target=a, iter=items_expr)))
    )
    stages += _has_calls([inner.iter])
    pair = cst.Tuple([cst.Element(a), cst.Element(b)])
    zipped = cst.Call(func=cst.Name("zip"), args=[cst.Arg(items_expr), cst.Arg(cst.Name(lists))])
    lines.append(
        _line(
            pairs,
            cst.ListComp(
                elt=pair,
                for_in=cst.CompFor(
                    target=cst.Tuple(
                        [cst.Element(a), cst.Element(cst.Name(each))], lpar=[], rpar=[]
                    ),
                    iter=zipped,
                    inner_for_in=cst.CompFor(target=b, iter=cst.Name(each)),
                ),
            ),
        )
    )
    final_for = cst.CompFor(
        target=cst.Tuple([cst.Element(a), cst.Element(b)], lpar=[], rpar=[]),
        iter=cst.Name(pairs),
        ifs=_one_line(inner.ifs),
    )
    stages += _has_calls([*(i.test for i in inner.ifs)]) + _has_calls(parts)
    final = comp.with_changes(for_in=final_for)
    comps: list[cst.CSTNode] = [final]
    for line in lines:
        small = line.body[0]
        if isinstance(small, cst.Assign) and isinstance(small.value, cst.ListComp):
            comps.append(small.value)
    return StagedComprehension(lines, final, comps, stages)

"""Converting one function or method into an ``@asynq()`` generator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import libcst as cst

from ._config import MigrateConfig
from ._cst import dotted_name, name_counts, param_names, target_names, walk
from ._hoist import (
    CollectLoop,
    LoopPlan,
    LoopRead,
    loop_plan,
    match_collect_loop,
    plain_filter,
    search_plan,
    sort_key_reads,
    stage_comprehension,
    two_phase_calls,
)
from ._imports import is_docstring_or_future
from ._names import in_reading_order, name_nested_reads, share_repeated_reads
from ._reads import analyze_method
from ._removal import PrimeRemover, fix_semicolons, pass_line
from ._share import local_containers, share_rounds
from ._yields import (
    CONDITIONAL_INSIDE,
    NodeReplacer,
    NodeT,
    ReadRewriter,
    YieldReplacer,
    assign_line,
    collect_unconditional_yields,
    contains_yield,
    count_yields,
    fresh_name,
    group_reads,
    nested_yields,
    newline_indent,
    paren_yield,
    parenthesized,
    read_member,
    safe_to_evaluate_early,
    spread_header,
    spread_long_comprehensions,
    spread_targets,
    spread_yield,
    strip_yield_parens,
    temp_base,
    tuple_node,
    unparen,
)

if TYPE_CHECKING:
    from ._plan import FilePlan


class FunctionConverter:
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
        #: statements of a loop body whose reads were read before the loop (fitted again)
        self._rewritten: set[int] = set()
        self._names: set[str] | None = None  # every name used in fn, for fresh temporaries
        self.last_yields = 0  # yields made by the last rewrite_expr
        self._fresh_lists: set[str] = set()  # names of lists the rewrite made
        #: the last stages of comprehensions read in stages (see ``stage_comprehension``)
        self._staged_finals: set[int] = set()
        #: dotted names of reads that take one round even on a cold cache: only they may
        #: join a yield earlier than the last one before them (see ``_share``)
        self.single_round: frozenset[tuple[str, ...]] = frozenset()
        self._top_depth = 1  # ``depth`` in the function's own body (set by ``convert``)
        #: lists, dicts and sets the function builds itself (see ``_share``)
        self._containers = (
            local_containers(list(fn.body.body))
            if isinstance(fn.body, cst.IndentedBlock)
            else frozenset()
        )
        #: trees made by the rewrite whose nodes ``read_ids`` names (kept alive: ids stay unique)
        self._kept_alive: list[cst.CSTNode] = []

    def new_name(self, base: str) -> str:
        """A new local name made from ``base`` (``base``, else ``base_2``...)."""
        if self._names is None:
            self._names = set(name_counts(self.fn))
        return fresh_name(base, self._names)

    @property
    def names_in_use(self) -> set[str] | None:
        """The function's names and those the rewrite made, once it made one (else None)."""
        return self._names

    def _reiterable(self, items: cst.BaseExpression) -> bool:
        """Whether ``items`` can be iterated twice (read every item first, then loop): a
        parameter, or a local name only ever bound to a list, tuple, dict, set, a
        comprehension that is not a generator, a read (``x = yield ...``) or a call of
        ``list``/``tuple``/``sorted``/``set``/``dict``. Anything else is copied to a list."""
        if (
            isinstance(items, cst.Call)
            and dotted_name(items.func) == ("zip",)
            and items.args
            and all(
                a.keyword is None and not a.star and self._reiterable(a.value) for a in items.args
            )
        ):
            return True  # ``zip(xs, f_values)`` of lists made again on each use
        if not isinstance(items, cst.Name):
            return False
        name = items.value
        if name in self._fresh_lists:
            return True
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
            return not isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) or (n is self.fn)

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
        rewriter = ReadRewriter(self.read_ids)
        result = node.visit(rewriter)
        self.last_yields = rewriter.yields
        return result  # type: ignore[return-value]

    def remove_primes(self, node: cst.BaseStatement) -> cst.BaseStatement | None:
        result = node.visit(PrimeRemover(self.delete_ids, None))
        return result if isinstance(result, cst.BaseStatement) else None

    def convert(self) -> cst.FunctionDef:
        decorator = cst.Decorator(decorator=cst.Call(func=cst.Name("asynq")))
        self._top_depth = self.depth + 1
        body = self.suite(self.fn.body)
        fn = self.fn.with_changes(decorators=[decorator, *self.fn.decorators], body=body)
        return in_reading_order(fn, self)  # f_value before f_value_2

    def suite(self, suite: cst.BaseSuite) -> cst.BaseSuite:
        if isinstance(suite, cst.IndentedBlock):
            stmts = self.block(list(suite.body))
            return suite.with_changes(body=stmts or [pass_line()])
        assert isinstance(suite, cst.SimpleStatementSuite)
        kept = [
            strip_yield_parens(self.rewrite_expr(s))
            for s in suite.body
            if not (isinstance(s, cst.Expr) and id(s.value) in self.delete_ids)
        ]
        return suite.with_changes(body=fix_semicolons(kept) or [cst.Pass()])

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
        top_level_read = isinstance(value, cst.Yield) and not contains_yield(
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
        width = len(self.indent) * self.depth

        def too_long(text: str) -> bool:
            return width + len(text) > self.line_length

        for each in out:
            if self._too_long(each):
                spread = each.with_changes(body=[spread_yield(each.body[0], self.indent)])
                if self._too_long(spread):
                    spread = each.with_changes(
                        body=[spread_yield(each.body[0], self.indent, break_for=True)]
                    )
                if self._too_long(spread):
                    # The names of a merged yield, or a comprehension inside a statement
                    # over several lines (a dict the function returns).
                    small = spread_targets(spread.body[0], self.indent)
                    small = spread_long_comprehensions(small, self.indent, too_long)
                    spread = spread.with_changes(body=[small])
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
                if (
                    len(kept) == len(stmt.body)
                    and not self._reads_in(stmt)
                    and id(stmt) not in self._rewritten
                ):
                    out.append(stmt)  # nothing to rewrite: left exactly as written
                    self._untouched.add(id(stmt))
                    continue
                read_first = False  # lines that read for every item come before it
                if len(kept) == 1:
                    staged_lines, staged_small = self.stage_comprehensions(kept[0])
                    if staged_lines:
                        staged_lines[0] = staged_lines[0].with_changes(
                            leading_lines=stmt.leading_lines
                        )
                        out.extend(staged_lines)
                        stmt = stmt.with_changes(leading_lines=[])
                        kept = [staged_small]
                    phased, only = self.two_phase(kept[0])
                    read_first = bool(staged_lines or phased)
                    if phased:
                        phased[0] = phased[0].with_changes(leading_lines=stmt.leading_lines)
                        out.extend(phased)
                        stmt = stmt.with_changes(leading_lines=[])
                        kept = [only]
                new_body = [strip_yield_parens(self.rewrite_expr(s)) for s in kept]
                if len(new_body) == 1:
                    prefixes, small = self.unnest(new_body[0])
                    if prefixes:
                        prefixes[0] = prefixes[0].with_changes(leading_lines=stmt.leading_lines)
                        out.extend(prefixes)
                        stmt = stmt.with_changes(leading_lines=[])
                        new_body = [small]
                        self.last_yields = count_yields(small)
                line = stmt.with_changes(body=fix_semicolons(new_body))
                if len(new_body) == 1 and self.last_yields >= 1:
                    hoisted = self.hoist(new_body[0]) if self.last_yields >= 2 else None
                    if read_first:
                        # After lines that read for every item, the statement's other reads
                        # are named first when they can join the yield of those lines.
                        joined = self.hoist(new_body[0], minimum=1)
                        if joined is not None and self._joins_previous(joined[0], out):
                            hoisted = joined
                    if hoisted is not None:
                        prefix, small = hoisted
                        out.append(prefix.with_changes(leading_lines=stmt.leading_lines))
                        line = line.with_changes(body=[small], leading_lines=[])
                out.append(line)  # fitted to the line length at the end of the block
            elif isinstance(stmt, cst.For):
                self.for_loop(stmt, out)
            elif isinstance(stmt, cst.If):
                new_if = self.if_stmt(stmt)
                test_yields = ReadRewriter(self.read_ids)
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
            elif isinstance(stmt, cst.While) and self._reads_in(stmt.body):
                # A walk converted whole: its body reads, one step per round, in order.
                out.append(
                    stmt.with_changes(
                        body=self.suite(stmt.body),
                        orelse=stmt.orelse.with_changes(body=self.suite(stmt.orelse.body))
                        if stmt.orelse is not None
                        else None,
                    )
                )
            else:  # while, with, match, nested definitions: no reads, maybe primes
                kept_stmt = self.remove_primes(stmt)
                if kept_stmt is not None:
                    out.append(kept_stmt)
        fitted: list[cst.BaseStatement] = []
        out = name_nested_reads(out, self)  # a fetched value gets a name
        shared = share_rounds(
            self.read_ahead(out),
            self._containers,
            self._name_yields,
            self.single_round,
            reuse=self.depth == self._top_depth,
        )
        for each in share_repeated_reads(group_reads(shared), self):
            if isinstance(each, cst.SimpleStatementLine) and id(each) not in self._untouched:
                fitted.extend(self.fit(each))
            else:
                fitted.append(each)
        return fitted

    @staticmethod
    def _joins_previous(line: cst.SimpleStatementLine, out: list[cst.BaseStatement]) -> bool:
        """Whether the read ``line`` would join the yield of the statement before it (see
        ``group_reads``): that is a read too, and ``line`` does not need what it assigns."""
        member = read_member(line)
        previous = read_member(out[-1]) if out else None
        if member is None or previous is None:
            return False
        uses = name_counts(member.item)
        return not any(uses[name] for name in previous.assigned)

    def read_ahead(self, stmts: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        """A statement right after ``x = yield ...`` whose reads do not need ``x`` has them
        read first, under names, so that they join that yield (independent reads share one
        round, as they did when their twin primed them together)."""
        out: list[cst.BaseStatement] = []
        for stmt in stmts:
            assigned: set[str] = set()
            for previous in reversed(out):
                member = read_member(previous)
                if member is None:
                    break
                assigned |= member.assigned
            if (
                assigned
                and isinstance(stmt, cst.SimpleStatementLine)
                and len(stmt.body) == 1
                and read_member(stmt) is None
            ):
                found: list[cst.Yield] = []
                small = stmt.body[0]
                if collect_unconditional_yields(small, False, found):
                    ready = [
                        y
                        for y in found
                        if y.value is not None
                        and not isinstance(y.value, cst.From)
                        and safe_to_evaluate_early(y.value)
                        and not any(name_counts(y.value)[n] for n in assigned)
                    ]
                    if ready:
                        temps, named = self._name_yields(ready)
                        out.extend(named)
                        replaced: Any = small.visit(YieldReplacer(temps))
                        stmt = stmt.with_changes(body=[strip_yield_parens(replaced)])
            out.append(stmt)
        return out

    def _name_yields(
        self, yields: list[cst.Yield]
    ) -> tuple[dict[int, str], list[cst.SimpleStatementLine]]:
        """A ``name = yield <value>`` statement for each of ``yields``, with fresh names, and
        those names by ``id`` of each yield (for ``YieldReplacer``)."""
        if self._names is None:
            self._names = set(name_counts(self.fn))
        temps: dict[int, str] = {}
        out: list[cst.SimpleStatementLine] = []
        for y in yields:
            assert y.value is not None and not isinstance(y.value, cst.From)
            name = fresh_name(temp_base(y.value), self._names)
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

    def stage_comprehensions(
        self, small: cst.BaseSmallStatement
    ) -> tuple[list[cst.BaseStatement], cst.BaseSmallStatement]:
        """Comprehensions read in stages (two ``for`` clauses whose inner clause, conditions or
        element read; a condition and an element that both read): the lines
        ``stage_comprehension`` makes of them, rewritten like any statement (one batched
        yield per read), and the statement over the last stage."""
        comps: list[Any] = []

        def find(node: cst.CSTNode) -> bool:
            if isinstance(node, cst.Lambda):
                return False
            if isinstance(node, CONDITIONAL_INSIDE):
                if self._reads_in(node):
                    comps.append(node)  # staged below if it has one of the staged shapes
                return False
            return True

        walk(small, find)
        if not comps:
            return [], small
        if self._names is None:
            self._names = set(name_counts(self.fn))
        names = self._names
        lines: list[cst.BaseStatement] = []
        replace: dict[int, cst.CSTNode] = {}
        for comp in comps:
            staged = stage_comprehension(
                comp, lambda base: fresh_name(base, names), self._reiterable
            )
            if staged is None:
                continue
            for line in staged.lines:  # each holds a new list: it may be iterated again
                assign = line.body[0]
                if isinstance(assign, cst.Assign):
                    self._fresh_lists |= target_names(assign.targets[0].target)
            # A read whose argument is now read in an earlier stage is a new node.
            self.read_ids |= {new for new, old in staged.renamed.items() if old in self.read_ids}
            self._kept_alive.append(staged.final)
            lines.extend(self._block(list(staged.lines)))
            replace[id(comp)] = staged.final
        if not replace:
            return [], small
        result = small.visit(NodeReplacer(replace))
        assert isinstance(result, cst.BaseSmallStatement)
        return lines, result

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
            if isinstance(node, CONDITIONAL_INSIDE):
                if any(id(c) in self.read_ids for c in two_phase_calls(node)):
                    comps.append(node)
                return False  # not inside another comprehension
            return True

        sorts: list[cst.Call] = []

        def find_sorts(node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.Lambda, *CONDITIONAL_INSIDE)):
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
            assert isinstance(comp, CONDITIONAL_INSIDE)
            reads = [c for c in two_phase_calls(comp) if id(c) in self.read_ids]
            target: Any = comp.for_in.target
            if isinstance(target, cst.Tuple):  # ``for a, b in pairs``: one item is a pair
                target = target.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            items: cst.BaseExpression = comp.for_in.iter
            filtered = plain_filter(comp)
            if filtered:
                # The condition calls nothing: filter the items first, read for those.
                name = fresh_name(f"{target_base(target)}_items", self._names)
                keep = cst.ListComp(
                    elt=target,
                    for_in=cst.CompFor(
                        target=target,
                        iter=self.rewrite_expr(items),
                        ifs=[cst.CompIf(test=if_.test) for if_ in comp.for_in.ifs],
                    ),
                )
                prefixes.append(assign_line(name, keep))
                items = cst.Name(name)
            elif not self._reiterable(items):
                line, items = self.items_in_a_list(target, items)
                prefixes.append(line)
            lines, replace, targets, iterables = self.read_for_every_item(reads, target, items)
            original = comp.for_in.target
            if (
                isinstance(items, cst.Call)
                and dotted_name(items.func) == ("zip",)
                and isinstance(original, cst.Tuple)
                and len(original.elements) == len(items.args)
                and all(a.keyword is None and not a.star for a in items.args)
            ):
                # ``for (x, f_value), g_value in zip(zip(xs, f_values), g_values)``: one zip
                targets = [*(el.value for el in original.elements), *targets[1:]]
                iterables = [*(a.value for a in items.args), *iterables[1:]]
            prefixes.extend(lines)
            replaced: Any = comp.visit(NodeReplacer(replace))
            for_in = replaced.for_in.with_changes(
                target=tuple_node(targets),
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
                copy = fresh_name(f"{param.value}_items", self._names)
                prefixes.append(
                    assign_line(copy, cst.Call(func=cst.Name("list"), args=[cst.Arg(items)]))
                )
                first = next(a for a in call.args if a.keyword is None)
                new_comps[id(first.value)] = cst.Name(copy)
                items = cst.Name(copy)
            for read in calls:
                if id(read) not in self.read_ids:
                    continue
                args = [a.value for a in read.args]
                dict_key: cst.BaseExpression = args[0] if len(args) == 1 else tuple_node(args)
                if len(args) != 1:
                    dict_key = dict_key.with_changes(
                        lpar=[cst.LeftParen()], rpar=[cst.RightParen()]
                    )
                base = temp_base(
                    read.with_changes(func=cst.Attribute(read.func, cst.Name("asynq")))
                )
                values = fresh_name(base.replace("_value", "_values"), self._names)
                sort_batch = cst.DictComp(
                    key=dict_key,
                    value=read.with_changes(func=cst.Attribute(read.func, cst.Name("asynq"))),
                    for_in=cst.CompFor(target=param, iter=items),
                )
                prefixes.append(assign_line(values, cst.Yield(sort_batch)))
                replace_reads[id(read)] = cst.Subscript(
                    value=cst.Name(values),
                    slice=[cst.SubscriptElement(slice=cst.Index(value=dict_key))],
                )
        if replace_reads:
            new_comps.update(replace_reads)
        result = small.visit(NodeReplacer(new_comps))
        assert isinstance(result, cst.BaseSmallStatement)
        return prefixes, result

    def unnest(
        self, small: cst.BaseSmallStatement
    ) -> tuple[list[cst.SimpleStatementLine], cst.BaseSmallStatement]:
        """No yield inside another yield: a read whose value another read needs is read into
        a name first (``ids = yield f.asynq(x)``), innermost first."""
        prefixes: list[cst.SimpleStatementLine] = []
        for _ in range(10):
            found = nested_yields(small)
            if not found:
                break
            temps, named = self._name_yields(found)
            prefixes.extend(named)
            small = strip_yield_parens(small.visit(YieldReplacer(temps)))  # type: ignore[arg-type]
        return prefixes, small

    def hoist(self, node: NodeT, minimum: int = 2) -> tuple[cst.SimpleStatementLine, NodeT] | None:
        """Move two or more independent yields out of one statement or test into a single
        tuple yield before it: ``return (yield f.asynq(x)) + (yield g.asynq(y))`` becomes
        ``f_value, g_value = yield f.asynq(x), g.asynq(y)`` then ``return f_value + g_value``,
        so the reads stay in one round, as priming had them.

        Only yields evaluated unconditionally (not in a branch of ``if``/``else``, ``and``/
        ``or``, a chained comparison or a comprehension) whose arguments call nothing but
        ``.asynq`` and harmless builtins are moved; None when there is nothing to gain.
        """
        found: list[cst.Yield] = []
        if not collect_unconditional_yields(node, False, found) or len(found) < minimum:
            return None
        if not all(
            safe_to_evaluate_early(y.value)
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
            name = fresh_name(temp_base(y.value), self._names)
            temps[id(y)] = name
            members.append((cst.Name(name), y.value))
        replaced: Any = node.visit(YieldReplacer(temps))
        if isinstance(replaced, cst.BaseSmallStatement):
            replaced = strip_yield_parens(replaced)
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
                cst.Element(parenthesized(v), comma if i < n - 1 else cst.MaybeSentinel.DEFAULT)
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
        rewriter = ReadRewriter(self.read_ids)
        if loop is not None and rewriter.is_pure_read(loop.value):
            self.collect_loop(stmt, loop, out)
            return
        if loop is None:
            stmt = self.hoist_loop(stmt, out)
        if isinstance(stmt.body, cst.IndentedBlock):
            stmts = self.block(list(stmt.body.body))
            if not stmts and stmt.orelse is None:
                return  # the loop only primed: drop it
            body: cst.BaseSuite = stmt.body.with_changes(body=stmts or [pass_line()])
        else:
            body = self.suite(stmt.body)
        orelse = (
            stmt.orelse.with_changes(body=self.suite(stmt.orelse.body)) if stmt.orelse else None
        )
        before = len(out)
        new_iter = self.iterable_first(self.rewrite_expr(stmt.iter), out)
        leading = stmt.leading_lines
        if len(out) > before:  # the loop's comments go before the read of its iterable
            first = out[before]
            assert isinstance(first, cst.SimpleStatementLine)
            out[before] = first.with_changes(leading_lines=leading)
            leading = []
        out.append(
            stmt.with_changes(iter=new_iter, body=body, orelse=orelse, leading_lines=leading)
        )

    def iterable_first(
        self, items: cst.BaseExpression, out: list[cst.BaseStatement]
    ) -> cst.BaseExpression:
        """A loop over what a read returns (``for y in (yield g.asynq(x))``) reads it first,
        under a name, in a line of its own, so that it joins the reads of the statement before
        the loop when they do not depend on each other (``a = set((yield f.asynq(x)))`` then
        the loop: ``f_value, g_value = yield f.asynq(x), g.asynq(x)``), as the twin primed
        them together."""
        found = _early_yields(items)
        if not found:
            return items
        prev = out[-1] if out else None
        prev_found: list[cst.Yield] = []
        if (
            isinstance(prev, cst.SimpleStatementLine)
            and len(prev.body) == 1
            and isinstance(prev.body[0], cst.Assign)
            and all(isinstance(t.target, cst.Name) for t in prev.body[0].targets)
            and read_member(prev) is None
        ):
            assign = prev.body[0]
            assigned = {t.target.value for t in assign.targets if isinstance(t.target, cst.Name)}
            mentioned = set().union(*(set(name_counts(y)) for y in found))
            if not assigned & mentioned:
                prev_found = _early_yields(assign.value)
        if prev_found:
            assert isinstance(prev, cst.SimpleStatementLine)
            prev_temps, prev_named = self._name_yields(prev_found)
            temps, named = self._name_yields(found)
            rest: Any = prev.body[0].visit(YieldReplacer(prev_temps))
            prev_named[0] = prev_named[0].with_changes(leading_lines=prev.leading_lines)
            # Inserted before that statement, not right before the loop.
            out[-1:] = [
                *prev_named,
                *named,
                prev.with_changes(body=[strip_yield_parens(rest)], leading_lines=[]),
            ]
        else:
            temps, named = self._name_yields(found)
            out.extend(named)
        return cast(cst.BaseExpression, items.visit(YieldReplacer(temps)))

    def items_in_a_list(
        self, target: cst.Name | cst.Tuple, items: cst.BaseExpression
    ) -> tuple[cst.SimpleStatementLine, cst.Name]:
        """Items that may not be iterable twice, kept in a list first (``x_items = list(...)``):
        the line, and the name to iterate instead."""
        assert self._names is not None
        name = fresh_name(f"{target_base(target)}_items", self._names)
        value = self.rewrite_expr(items)
        if not (isinstance(value, cst.Yield) or contains_yield(value)):
            value = cst.Call(func=cst.Name("list"), args=[cst.Arg(value)])
        return assign_line(name, unparen(value)), cst.Name(name)

    def read_for_every_item(
        self, reads: list[cst.Call], target: cst.Name | cst.Tuple, items: cst.BaseExpression
    ) -> tuple[
        list[cst.SimpleStatementLine],
        dict[int, cst.BaseExpression],
        list[cst.BaseExpression],
        list[cst.BaseExpression],
    ]:
        """One batched yield per read, made for every item (``v_values = yield [f.asynq(x) for x
        in items]``): the lines, each read's replacement (the name its value gets), and the
        targets and iterables of the ``zip`` the loop then runs over."""
        assert self._names is not None
        lines: list[cst.SimpleStatementLine] = []
        replace: dict[int, cst.BaseExpression] = {}
        targets: list[cst.BaseExpression] = [target]
        iterables: list[cst.BaseExpression] = [items]
        for call in reads:
            read = call.with_changes(func=cst.Attribute(call.func, cst.Name("asynq")))
            base = temp_base(read)
            values = fresh_name(base.replace("_value", "_values"), self._names)
            each = fresh_name(base, self._names)
            bare = (
                target.with_changes(lpar=[], rpar=[]) if isinstance(target, cst.Tuple) else target
            )
            batch = cst.ListComp(elt=read, for_in=cst.CompFor(target=bare, iter=items))
            lines.append(assign_line(values, cst.Yield(batch)))
            replace[id(call)] = cst.Name(each)
            targets.append(cst.Name(each))
            iterables.append(cst.Name(values))
        return lines, replace, targets, iterables

    def read_in_stages(
        self,
        reads: list[LoopRead],
        plan: LoopPlan,
        target: cst.Name,
        items: cst.BaseExpression,
    ) -> tuple[
        list[cst.SimpleStatementLine],
        dict[int, cst.BaseExpression],
        list[cst.BaseExpression],
        list[cst.BaseExpression],
    ]:
        """Like :meth:`read_for_every_item`, for reads that come in stages: one batched
        yield per read, stage after stage. A read that needs earlier values iterates over
        them too (``for x, row in zip(xs, f_values)``, under the name the loop gives them);
        a read after guards reads ``None`` for the items a guard drops
        (``None if row["hidden"] else g.asynq(row["id"])``), so it fetches no key the loop
        does not read. A value the loop computes from reads (``total = len(f(x))``) is
        computed again where a guard or a read needs it. A read in a comprehension of the
        loop body is read as a list per item (``[f.asynq(u, x) for u in users]``), and the
        comprehension then runs over ``zip(users, f_list)``."""
        assert self._names is not None
        guards = plan.guards
        each: dict[int, str] = {}
        values: dict[int, str] = {}
        inner: dict[int, str] = {}  # a read in a comprehension: the name of one value
        for read in reads:
            base = temp_base(
                read.call.with_changes(func=cst.Attribute(read.call.func, cst.Name("asynq")))
            )
            if read.comp is not None:
                base = base.replace("_value", "")
                values[id(read.call)] = fresh_name(f"{base}_lists", self._names)
                each[id(read.call)] = fresh_name(f"{base}_list", self._names)
                inner[id(read.call)] = fresh_name(f"{base}_value", self._names)
            else:
                values[id(read.call)] = fresh_name(base.replace("_value", "_values"), self._names)
                each[id(read.call)] = fresh_name(base, self._names)
        by_call = {id(r.call): r for r in reads}
        lines: list[cst.SimpleStatementLine] = []
        for read in sorted(reads, key=lambda r: r.stage):
            call = read.call
            needed = [by_call[id(c)] for c in read.after]
            bound: dict[int, cst.BaseExpression] = {
                id(r.call): cst.Name(r.name or each[id(r.call)]) for r in needed
            }

            def known(node: cst.CSTNode, bound: dict[int, cst.BaseExpression] = bound) -> Any:
                return with_derived_values(node, bound, plan.derived)

            asynq_read: cst.BaseExpression = call.with_changes(
                func=cst.Attribute(call.func, cst.Name("asynq")),
                args=[known(arg) for arg in call.args],
            )
            if read.comp is not None:
                asynq_read = cst.ListComp(
                    elt=asynq_read,
                    for_in=cst.CompFor(
                        target=read.comp.for_in.target, iter=known(read.comp.for_in.iter)
                    ),
                )
            if read.guards:
                tests = [
                    parenthesized_test(known(guard), read.guards > 1)
                    for guard in guards[: read.guards]
                ]
                test = tests[0]
                for more in tests[1:]:
                    test = cst.BooleanOperation(left=test, operator=cst.Or(), right=more)
                asynq_read = cst.IfExp(test=test, body=cst.Name("None"), orelse=asynq_read)
            if needed:
                comp_target: cst.BaseAssignTargetExpression = tuple_node(
                    [target, *(bound[id(r.call)] for r in needed)]
                )
                comp_iter: cst.BaseExpression = cst.Call(
                    func=cst.Name("zip"),
                    args=[cst.Arg(items), *(cst.Arg(cst.Name(values[id(r.call)])) for r in needed)],
                )
            else:
                comp_target, comp_iter = target, items
            batch = cst.ListComp(
                elt=asynq_read, for_in=cst.CompFor(target=comp_target, iter=comp_iter)
            )
            lines.append(assign_line(values[id(call)], cst.Yield(batch)))
        replace: dict[int, cst.BaseExpression] = {
            id(r.call): cst.Name(each[id(r.call)]) for r in reads if r.comp is None
        }
        by_comp: dict[int, list[LoopRead]] = {}
        for read in reads:
            if read.comp is not None:
                by_comp.setdefault(id(read.comp), []).append(read)
        for group in by_comp.values():
            comp = group[0].comp
            assert comp is not None
            swapped: Any = comp.visit(
                NodeReplacer({id(r.call): cst.Name(inner[id(r.call)]) for r in group})
            )
            comp_target = comp.for_in.target
            if isinstance(comp_target, cst.Tuple):
                comp_target = comp_target.with_changes(
                    lpar=[cst.LeftParen()], rpar=[cst.RightParen()]
                )
            replace[id(comp)] = swapped.with_changes(
                for_in=swapped.for_in.with_changes(
                    target=tuple_node(
                        [comp_target, *(cst.Name(inner[id(r.call)]) for r in group)]
                    ),
                    iter=cst.Call(
                        func=cst.Name("zip"),
                        args=[
                            cst.Arg(comp.for_in.iter),
                            *(cst.Arg(cst.Name(each[id(r.call)])) for r in group),
                        ],
                    ),
                )
            )
        targets: list[cst.BaseExpression] = [target, *(cst.Name(each[id(r.call)]) for r in reads)]
        iterables: list[cst.BaseExpression] = [
            items,
            *(cst.Name(values[id(r.call)]) for r in reads),
        ]
        return lines, replace, targets, iterables

    def hoist_loop(self, stmt: cst.For, out: list[cst.BaseStatement]) -> cst.For:
        """Reads every iteration makes, with arguments known before the loop: made for every
        item first, one batched yield per read, and the loop runs over
        ``zip(items, values)`` (see ``loop_plan``). A read that needs a value read earlier
        in the iteration comes in a later stage; one after a guard ``if <test>: continue``
        is made only for the items that pass it (``None`` for the others)."""
        plan = loop_plan(stmt)
        if not plan.reads:
            plan = search_plan(stmt)  # read ahead where the twin primes every item
        ok: set[int] = set()
        reads: list[LoopRead] = []
        for read in plan.reads:
            if id(read.call) in self.read_ids and all(id(c) in ok for c in read.after):
                ok.add(id(read.call))
                reads.append(read)
        if not reads:
            return stmt
        if self._names is None:
            self._names = set(name_counts(self.fn))
        target = stmt.target
        assert isinstance(target, cst.Name)
        items: cst.BaseExpression = stmt.iter
        lines: list[cst.SimpleStatementLine] = []
        if not self._reiterable(items):
            line, items = self.items_in_a_list(target, items)
            lines.append(line)
        if all(r.stage == 1 and not r.guards and r.comp is None for r in reads):
            batched, replace, targets, iterables = self.read_for_every_item(
                [r.call for r in reads], target, items
            )
        else:
            batched, replace, targets, iterables = self.read_in_stages(
                reads, plan, target, items
            )
        lines.extend(batched)
        # The loop's own comments and blank lines go before what now comes first.
        lines[0] = lines[0].with_changes(leading_lines=stmt.leading_lines)
        out.extend(lines)
        body: Any = stmt.body.visit(NodeReplacer(replace))
        before = {id(line) for line in stmt.body.body}
        self._rewritten |= {id(line) for line in body.body if id(line) not in before}
        target_tuple = tuple_node(targets)
        zipped = cst.Call(func=cst.Name("zip"), args=[cst.Arg(v) for v in iterables])
        render = cst.Module(body=[]).code_for_node
        header = f"for {render(target_tuple)} in {render(zipped)}:"
        width = len(self.indent) * self.depth
        if width + len(header) > self.line_length:
            args = list(zipped.args)
            inner = f"{self.indent}{', '.join(render(a.value) for a in args)}"
            first = f"for {render(target_tuple)} in zip("
            if max(len(first), len(inner)) + width > self.line_length:
                # Black's way: one name and one iterable per line.
                target_tuple, zipped = spread_header(target_tuple, zipped, self.indent)
            else:
                args[-1] = args[-1].with_changes(whitespace_after_arg=newline_indent(""))
                zipped = zipped.with_changes(
                    args=args, whitespace_before_args=newline_indent(self.indent)
                )
        return stmt.with_changes(target=target_tuple, iter=zipped, body=body, leading_lines=[])

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
            args=[cst.Arg(paren_yield(comp))],
        )
        out.append(cst.SimpleStatementLine(body=[cst.Expr(call)], leading_lines=stmt.leading_lines))


class _PropertyCalls(cst.CSTTransformer):
    """Turns reads of converted properties (``obj.p``, named by id) into calls of their
    ``@asynq()`` methods (``obj.get_p()``), which the converter then yields like any read;
    follows the read and deleted calls to their new nodes."""

    def __init__(self, props: set[int], reads: set[int], deletes: set[int]) -> None:
        super().__init__()
        self.props = props
        self.reads = reads
        self.deletes = deletes
        self.new_reads: set[int] = set()
        self.new_deletes: set[int] = set()

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        if id(original_node) not in self.props:
            return updated_node
        getter = updated_node.with_changes(
            attr=cst.Name(f"get_{updated_node.attr.value}"), lpar=[], rpar=[]
        )
        call = cst.Call(func=getter, lpar=updated_node.lpar, rpar=updated_node.rpar)
        self.new_reads.add(id(call))
        return call

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if id(original_node) in self.reads:
            self.new_reads.add(id(updated_node))
        if id(original_node) in self.deletes:
            self.new_deletes.add(id(updated_node))
        return updated_node


def with_property_calls(
    fn: cst.FunctionDef, reads: list[cst.CSTNode], delete_ids: set[int]
) -> tuple[cst.FunctionDef, set[int], set[int]]:
    """``fn`` with its reads of converted properties (the :class:`~cst.Attribute` nodes
    among ``reads``) turned into calls of their ``get_<name>`` methods, and the ids of the
    read calls and of the priming calls to delete in the new tree."""
    read_ids = {id(node) for node in reads}
    props = {id(node) for node in reads if isinstance(node, cst.Attribute)}
    if not props:
        return fn, read_ids, delete_ids
    calls = _PropertyCalls(props, read_ids - props, delete_ids)
    new_fn = fn.visit(calls)
    assert isinstance(new_fn, cst.FunctionDef)
    return new_fn, calls.new_reads, delete_ids | calls.new_deletes


def convert_methods(
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
        reads = [analyzer.sites[o].node for o in ordinals]
        new_fn, read_ids, _ = with_property_calls(fn, [n for n in reads if n], set())
        converter = FunctionConverter(new_fn, read_ids, set(), config.line_length, indent)
        converter.single_round = plan.single_round
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
        doc = [s for s in fn.body.body[:1] if is_docstring_or_future(s)]
        body[last[method]] = fn.with_changes(body=fn.body.with_changes(body=[*doc, delegate]))
        body.insert(last[method] + 1, new_method)
        last = {
            item.name.value: i for i, item in enumerate(body) if isinstance(item, cst.FunctionDef)
        }
    return cls.with_changes(body=cls.body.with_changes(body=body))


def target_base(target: cst.Name | cst.Tuple) -> str:
    """A base for names made from a loop target (``x``; ``a_b`` for ``a, b``)."""
    if isinstance(target, cst.Name):
        return target.value
    return "_".join(el.value.value for el in target.elements if isinstance(el.value, cst.Name))


def parenthesized_test(test: cst.BaseExpression, joined: bool) -> cst.BaseExpression:
    """A guard's test as the test of ``None if <test> else ...``: in parentheses when it is
    a conditional expression or a lambda, or (for readability) a boolean operation joined
    to other tests with ``or``."""
    loose = (cst.IfExp, cst.Lambda, cst.BooleanOperation) if joined else (cst.IfExp, cst.Lambda)
    if isinstance(test, loose) and not test.lpar:
        return test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return test


def _is_property(dec: cst.Decorator) -> bool:
    return isinstance(dec.decorator, cst.Name) and dec.decorator.value == "property"


class _DerivedValues(cst.CSTTransformer):
    """See :func:`with_derived_values`."""

    def __init__(
        self, bound: dict[int, cst.BaseExpression], derived: dict[str, cst.BaseExpression]
    ) -> None:
        super().__init__()
        self.bound = bound
        self.derived = derived

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return self.bound.get(id(original_node), updated_node)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        value = self.derived.get(original_node.value)
        if value is None:
            return updated_node
        value = with_derived_values(value, self.bound, self.derived)
        if isinstance(value, (cst.Name, cst.Call, cst.Subscript, cst.Attribute)) or value.lpar:
            return value
        return value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        return updated_node.with_changes(attr=original_node.attr)  # ``.name`` is no variable

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)


def with_derived_values(
    node: NodeT, bound: dict[int, cst.BaseExpression], derived: dict[str, cst.BaseExpression]
) -> NodeT:
    """``node`` (a guard's test, a read's argument), to be evaluated before the loop: the
    reads in ``bound`` replaced by the names of their values, and the names of values the
    loop computes from reads (``total = len(f(x))``) by that computation."""
    if not derived and not bound:
        return node
    return cast(NodeT, node.visit(_DerivedValues(bound, derived)))


def _early_yields(node: cst.BaseExpression) -> list[cst.Yield]:
    """The yields of ``node`` when every one of them always runs and may run earlier
    (``.asynq()`` calls and harmless builtins only); empty otherwise."""
    found: list[cst.Yield] = []
    if not collect_unconditional_yields(node, False, found) or count_yields(node) != len(found):
        return []
    for y in found:
        if y.value is None or isinstance(y.value, cst.From) or not safe_to_evaluate_early(y.value):
            return []
    return found

"""Whole-program analysis of legacy priming code.

Both passes must agree exactly on which call sites exist and in which context they sit,
so the walk that finds them lives here and is run by both: the analysis runs it to learn
facts, the rewrite runs it again on the same source to find the nodes those facts name.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

from ._config import MigrateConfig

Ref = tuple[str, ...]

#: Builtins that consume a generator expression completely, so turning it into a list
#: (fetched in one batch) gives the same value.
CONSUMERS = frozenset(
    {"list", "tuple", "set", "frozenset", "sorted", "sum", "min", "max", "any", "all"}
)

#: Why a read at some place cannot be turned into a yield. The analysis turns these codes
#: into sentences (see ``_index.blocker_sentence``).
BLOCKERS = (
    "lambda",
    "nested-def",
    "nested-class",
    "with",
    "while",
    "for",
    "comprehension",
    "genexp",
    "finally",
    "broad-except",
    "match",
    "try-star",
    "for-else",
)


def dotted_name(expr: cst.BaseExpression) -> Ref | None:
    """``a.b.c`` as ``("a", "b", "c")``; None for anything that is not a dotted name."""
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if isinstance(expr, cst.Name):
        parts.append(expr.value)
        return tuple(reversed(parts))
    return None


_NOT_CODE = (
    cst.BaseParenthesizableWhitespace,
    cst.EmptyLine,
    cst.TrailingWhitespace,
    cst.Newline,
    cst.Comment,
    cst.Comma,
    cst.Semicolon,
    cst.Colon,
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
    cst.Dot,
    cst.AssignEqual,
    cst.BaseBinaryOp,
    cst.BaseBooleanOp,
    cst.BaseCompOp,
    cst.BaseUnaryOp,
    cst.BaseAugOp,
    cst.Asynchronous,
)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_IS_CODE: dict[type, bool] = {}


def child_nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The children of ``node`` that hold code (whitespace, commas, brackets and operator
    tokens left out), read straight from its fields.

    This is a read-only walk: ``CSTNode.visit`` rebuilds every node it passes, which
    costs more than the whole analysis.
    """
    kind = type(node)
    names = _CHILD_FIELDS.get(kind)
    if names is None:
        names = _CHILD_FIELDS[kind] = tuple(f.name for f in dataclasses.fields(node))
    out: list[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            items: Sequence[object] = (value,)
        elif isinstance(value, (tuple, list)):
            items = value
        else:
            continue
        for item in items:
            item_kind = type(item)
            code = _IS_CODE.get(item_kind)
            if code is None:
                code = _IS_CODE[item_kind] = issubclass(item_kind, cst.CSTNode) and not issubclass(
                    item_kind, _NOT_CODE
                )
            if code:
                out.append(item)  # type: ignore[arg-type]
    return out


def walk(node: cst.CSTNode, visit: Callable[[cst.CSTNode], bool]) -> None:
    """Pre-order read-only walk; children are skipped when ``visit`` returns False."""
    if visit(node):
        for child in child_nodes(node):
            walk(child, visit)


def target_names(node: cst.CSTNode | None) -> set[str]:
    """Names bound by an assignment target (``a``, ``a, (b, c)``, ``*rest``)."""
    out: set[str] = set()
    if node is None:
        return out
    if isinstance(node, cst.Name):
        out.add(node.value)
    elif isinstance(node, (cst.Tuple, cst.List)):
        for el in node.elements:
            out |= target_names(el.value)
    elif isinstance(node, cst.StarredElement):
        out |= target_names(node.value)
    return out


class _LocalNames(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.globals: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.names |= target_names(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.names |= target_names(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.names |= target_names(node.target)

    def visit_For(self, node: cst.For) -> None:
        self.names |= target_names(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self.names |= target_names(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self.names |= target_names(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.names |= target_names(node.target)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        if node.asname is None:
            ref = dotted_name(node.name)
            if ref:
                self.names.add(ref[0])

    def visit_Global(self, node: cst.Global) -> None:
        self.globals |= {n.name.value for n in node.names}

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.globals |= {n.name.value for n in node.names}


def param_names(params: cst.Parameters) -> set[str]:
    """Names of all parameters of a function or lambda."""
    out = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    if isinstance(params.star_arg, cst.Param):
        out.add(params.star_arg.name.value)
    if params.star_kwarg is not None:
        out.add(params.star_kwarg.name.value)
    return out


def local_names(fn: cst.FunctionDef) -> frozenset[str]:
    """Names local to ``fn``: parameters and everything assigned in its body."""
    visitor = _LocalNames()
    fn.body.visit(visitor)
    return frozenset((visitor.names | param_names(fn.params)) - visitor.globals)


def comp_target_names(comp: cst.BaseComp | cst.DictComp) -> set[str]:
    """Names bound by all the ``for`` clauses of a comprehension."""
    out: set[str] = set()
    for_in: cst.CompFor | None = comp.for_in
    while for_in is not None:
        out |= target_names(for_in.target)
        for_in = for_in.inner_for_in
    return out


def name_counts(node: cst.CSTNode) -> Counter[str]:
    """How often each identifier occurs in ``node`` (all contexts)."""
    counts: Counter[str] = Counter()

    def visit(n: cst.CSTNode) -> bool:
        if type(n) is cst.Name:
            counts[n.value] += 1
        return True

    walk(node, visit)
    return counts


_EFFECTS = (cst.Call, cst.Yield, cst.Await, cst.NamedExpr)


def has_call(node: cst.CSTNode) -> bool:
    """Whether ``node`` contains a call, a yield, an await or an assignment expression."""
    found = False

    def visit(n: cst.CSTNode) -> bool:
        nonlocal found
        if isinstance(n, _EFFECTS):
            found = True
        return not found

    walk(node, visit)
    return found


def consumed_genexp(call: cst.Call) -> cst.GeneratorExp | None:
    """The generator expression passed as first argument to a consuming call, if any.

    ``sum(f(x) for x in xs)`` and ``", ".join(f(x) for x in xs)`` consume the whole
    generator, so it can be replaced by a list without changing the result.
    """
    if not call.args:
        return None
    first = call.args[0]
    if first.keyword is not None or first.star or not isinstance(first.value, cst.GeneratorExp):
        return None
    func = call.func
    if isinstance(func, cst.Name) and func.value in CONSUMERS:
        return first.value
    if isinstance(func, cst.Attribute) and func.attr.value == "join" and len(call.args) == 1:
        return first.value
    return None


#: Builtins that may run a little earlier than written without anyone noticing.
HARMLESS_BUILTINS = frozenset(
    {
        "range",
        "len",
        "str",
        "int",
        "float",
        "bool",
        "tuple",
        "list",
        "set",
        "frozenset",
        "sorted",
        "min",
        "max",
        "sum",
        "abs",
        "enumerate",
        "zip",
        "reversed",
        "repr",
    }
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
        self.unsafe = False

    def collect(self, node: cst.CSTNode, conditional: bool) -> None:
        """Add the calls ``node`` always makes (``conditional``: it may not run at all)."""
        if self.unsafe:
            return
        if isinstance(node, (cst.NamedExpr, cst.Yield, cst.Await)):
            self.unsafe = True
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


def _plain_arguments(call: cst.Call) -> bool:
    """Arguments that call nothing but harmless builtins (so the call may run earlier)."""
    plain = True

    def visit(node: cst.CSTNode) -> bool:
        nonlocal plain
        if isinstance(node, cst.Call):
            if not (isinstance(node.func, cst.Name) and node.func.value in HARMLESS_BUILTINS):
                plain = False
        elif isinstance(node, (cst.NamedExpr, cst.Yield, cst.Await, cst.Lambda, *_COMPREHENSIONS)):
            plain = False
        return plain

    for arg in call.args:
        walk(arg, visit)
    return plain


def plain_filter(comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp) -> bool:
    """Whether the comprehension has conditions that call nothing but harmless builtins (so
    they can be evaluated once more, to filter the items first)."""
    ifs = comp.for_in.ifs
    if not ifs:
        return False
    plain = True

    def visit(node: cst.CSTNode) -> bool:
        nonlocal plain
        if isinstance(node, cst.Call):
            if not (isinstance(node.func, cst.Name) and node.func.value in HARMLESS_BUILTINS):
                plain = False
        elif isinstance(node, (cst.NamedExpr, cst.Yield, cst.Await, cst.Lambda, *_COMPREHENSIONS)):
            plain = False
        return plain

    for if_ in ifs:
        walk(if_.test, visit)
    return plain


def two_phase_calls(
    comp: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp,
    whole_element: bool = False,
) -> list[cst.Call]:
    """Calls in a comprehension that can be made for every item first, in one batch, before
    the comprehension runs: the calls its first condition always makes, or (without a
    condition) the calls its element always makes, when there is one plain ``for`` and the
    calls' arguments call nothing. Empty when the comprehension has another shape."""
    for_in = comp.for_in
    if (
        for_in.inner_for_in is not None
        or for_in.asynchronous is not None
        or not isinstance(for_in.target, cst.Name)
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
            # An element that is the call is one batch already (unless asked for it).
            if whole_element or not isinstance(part, cst.Call):
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


def hoistable_loop_calls(loop: cst.For) -> list[cst.Call]:
    """Calls a ``for`` loop makes in every iteration, with arguments that depend only on the
    loop variable and on names the loop does not assign: they can be made for every item
    first, in one batch, before the loop (then the loop runs over ``zip(items, values)``)."""
    if (
        loop.orelse is not None
        or loop.asynchronous is not None
        or not isinstance(loop.target, cst.Name)
        or not isinstance(loop.body, cst.IndentedBlock)
    ):
        return []
    stops = False

    def stop(n: cst.CSTNode) -> bool:
        nonlocal stops
        if isinstance(n, (cst.Break, cst.Return, cst.Raise)):
            stops = True
        return not stops and not isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda))

    walk(loop.body, stop)
    if stops:
        return []  # it may stop early (maybe over an endless iterator): read as it goes
    assigned_visitor = _LocalNames()
    loop.body.visit(assigned_visitor)
    assigned = assigned_visitor.names - {loop.target.value}
    collector = _UnconditionalCalls(
        lambda call: dotted_name(call.func) is not None
        and _plain_arguments(call)
        and not any(name_counts(arg)[n] for arg in call.args for n in assigned)
    )
    collect = collector.collect

    for stmt in loop.body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                collect(small, False)
        elif isinstance(stmt, cst.If):
            collect(stmt.test, False)
        elif isinstance(stmt, cst.For):
            collect(stmt.iter, False)
        else:
            break
        if collector.unsafe or _jumps(stmt):
            break
    return [] if collector.unsafe else collector.calls


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


def is_broad_handler(handler: cst.ExceptHandler) -> bool:
    """``except:``, ``except BaseException`` or ``except GeneratorExit`` (maybe in a tuple)."""
    if handler.type is None:
        return True
    types = (
        [el.value for el in handler.type.elements]
        if isinstance(handler.type, cst.Tuple)
        else [handler.type]
    )
    return any(dotted_name(t) in {("BaseException",), ("GeneratorExit",)} for t in types)


def is_dynamic_call(call: cst.Call) -> bool:
    """``getattr(obj, name)(...)``, ``table[key](...)`` and the like."""
    func = call.func
    if isinstance(func, cst.Call):
        return dotted_name(func.func) in {("getattr",), ("globals",), ("locals",), ("vars",)}
    return isinstance(func, cst.Subscript)


@dataclasses.dataclass
class Site:
    """One place in a unit of code that calls or mentions a name the migration cares about.

    ``kind`` is ``"call"`` (``ref(...)``), ``"ref"`` (a priming name used as a value),
    ``"dynamic"`` (a call whose target cannot be known), ``"local-prime"`` (``obj.prime_m()``)
    or ``"obj-read"`` (``obj.m()`` on an object whose class is known). For the last two,
    ``cls`` is the dotted name of the object's class when the function builds the object
    itself (``book = Book(x)`` assigned once, or ``Book(x).m()``), else None. ``blocker`` says why a read there
    could not become a yield (None: it can). ``deletable``: the call is a whole statement
    and its arguments have no side effects, so the statement can be dropped.
    """

    ordinal: int
    kind: str
    ref: Ref
    blocker: str | None
    deletable: bool = False
    node: cst.CSTNode | None = dataclasses.field(default=None, compare=False, repr=False)
    statement: int = 0  # index among the module unit's top-level statements
    #: set when the name was bound by an import inside the function, not at module level
    local_import: ImportBinding | None = None
    cls: Ref | None = None
    #: ``cls`` is the method's own class, known through ``self`` or ``cls``: it holds only
    #: when no class in the run subclasses it (checked by the whole-program analysis)
    via_self: bool = False


_Pending = tuple[
    str, Ref, "str | None", bool, "cst.CSTNode | None", tuple[int, ...], int, "Ref | None"
]


def constructed_names(fn: cst.FunctionDef) -> dict[str, Ref]:
    """Names the body of ``fn`` binds, in a statement of its own at the top of the body, to
    a call of a dotted name (``book = Book(x)``): name -> the dotted name called. Whether
    that is the name's only binding is checked by :class:`UnitAnalyzer`."""
    out: dict[str, Ref] = {}
    if not isinstance(fn.body, cst.IndentedBlock):
        return out
    for stmt in fn.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        small = stmt.body[0]
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and isinstance(small.value, cst.Call)
        ):
            ref = dotted_name(small.value.func)
            if ref is not None:
                out[small.targets[0].target.value] = ref
    return out


class UnitAnalyzer(cst.CSTVisitor):
    """Walks one unit of code (a top-level function body, or the module's other statements).

    Call sites are recorded with the context that would block a yield there; names bound
    locally (parameters, assignments... in the unit or a nested scope) are collected in the
    same walk, and :meth:`finish` drops the sites whose name is local rather than global.
    """

    def __init__(
        self,
        config: MigrateConfig,
        fn: cst.FunctionDef | None,
        keep_nodes: bool = False,
        self_class: str | None = None,
    ) -> None:
        super().__init__()
        #: in a method of ``self_class``: its first parameter (``self``, or ``cls`` of a
        #: classmethod), and whether that names the class itself
        self._self_name, self._self_is_class = (
            method_receiver(fn) if fn is not None and self_class is not None else (None, False)
        )
        self._self_class = self_class
        self.prefix = config.prime_prefix
        self.fn = fn
        self.keep_nodes = keep_nodes
        self.sites: list[Site] = []
        self.has_yield = False
        self.statement = 0  # index of the top-level statement being walked (module unit)
        self._raw: list[_Pending] = []
        self._blockers: list[str | None] = [None]
        self._scope_names: list[set[str]] = []
        self._scope_globals: list[set[str]] = []
        self._scope_imports: list[dict[str, ImportBinding]] = []
        self._scopes: list[int] = []
        if fn is not None:
            self._push_scope(param_names(fn.params))
        self._nested = 0
        self._pending: dict[int, str | None] = {}
        self._pushed: dict[int, tuple[int, int, int]] = {}
        self._skip: set[int] = set()
        self._stmt_calls: set[int] = set()
        self._consumed: set[int] = set()
        #: ``book = Book(x)`` at the top of the body: candidates for a known class
        self._constructed = constructed_names(fn) if fn is not None else {}
        self._params = param_names(fn.params) if fn is not None else set()
        self._bindings: Counter[str] = Counter()

    # -- helpers -----------------------------------------------------------------------
    def _push_scope(self, names: set[str]) -> None:
        self._scope_names.append(set(names))
        self._scope_globals.append(set())
        self._scope_imports.append({})
        self._scopes.append(len(self._scope_names) - 1)

    def _bind(self, names: set[str]) -> None:
        self._bindings.update(names)
        if self._scopes:
            self._scope_names[self._scopes[-1]] |= names

    def _add(
        self,
        kind: str,
        ref: Ref,
        node: cst.CSTNode,
        deletable: bool = False,
        cls: Ref | None = None,
    ) -> None:
        self._raw.append(
            (
                kind,
                ref,
                self._blockers[-1],
                deletable,
                node if self.keep_nodes else None,
                tuple(self._scopes),
                self.statement,
                cls,
            )
        )

    def _maybe_prime(self, ref: Ref) -> bool:
        return ref[-1].startswith(self.prefix) or (len(ref) > 1 and ref[-1] == "prime")

    def walk(self, node: cst.CSTNode) -> None:
        """Analyse ``node`` and everything under it (read-only, see :func:`child_nodes`)."""
        if self.on_visit(node):
            for child in child_nodes(node):
                self.walk(child)
        self.on_leave(node)

    def finish(self) -> UnitAnalyzer:
        """Drop sites whose name is bound locally; number the others. Returns self."""
        local = [
            names - glob for names, glob in zip(self._scope_names, self._scope_globals, strict=True)
        ]
        globals_ = set().union(*self._scope_globals) if self._scope_globals else set()
        for kind, ref, blocker, deletable, node, scopes, statement, cls in self._raw:
            via_self = False
            me = self._self_name
            if (
                me is not None
                and self._self_class is not None
                and self._bindings[me] == 0
                and me not in globals_
                and not any(me in imports for imports in self._scope_imports)
            ):
                # ``self.prime_m()``, ``cls.prime_m()``, ``cls(x).prime_m()`` in a priming
                # method: the receiver is an object of the method's own class.
                if kind == "call" and cls is None and len(ref) == 2 and ref[0] == me:
                    cls, via_self = (self._self_class,), True
                elif kind == "local-prime" and cls == (me,) and self._self_is_class:
                    cls, via_self = (self._self_class,), True
            if cls is not None and kind == "call" and not via_self:
                # ``book.m()`` where ``book = Book(x)``: its class is known only if that is
                # the name's one binding (and not a parameter or a global).
                name = ref[0]
                if (
                    self._bindings[name] != 1
                    or name in self._params
                    or name in globals_
                    or any(name in imports for imports in self._scope_imports)
                ):
                    cls = None
            if cls is not None and not via_self and any(cls[0] in local[i] for i in scopes):
                cls = None  # a class bound locally: not one the analysis can name
            if kind == "obj-read" and cls is None:
                continue
            if kind != "string" and ref and any(ref[0] in local[i] for i in scopes):
                if kind != "call" or len(ref) < 2:
                    continue
                if not self._maybe_prime(ref):
                    if cls is None:
                        continue
                    kind = "obj-read"  # ``book.m()`` on an object of a known class
                else:
                    # ``obj.prime_m()`` on a local object: followed only if its class is known.
                    kind = "local-prime"
            binding = None
            for i in reversed(scopes):
                if kind != "string" and ref and ref[0] in self._scope_imports[i]:
                    binding = self._scope_imports[i][ref[0]]
                    break
            self.sites.append(
                Site(
                    len(self.sites),
                    kind,
                    ref,
                    blocker,
                    deletable and binding is None,
                    node,
                    statement,
                    binding,
                    cls if kind in ("local-prime", "obj-read") else None,
                    via_self and kind in ("local-prime", "obj-read"),
                )
            )
        self._raw = []
        return self

    # -- generic hooks -------------------------------------------------------------------
    def on_visit(self, node: cst.CSTNode) -> bool:
        key = id(node)
        if key in self._skip:
            return False
        self._frame = [0, 0, 0]
        if key in self._pending:
            self._blockers.append(self._pending.pop(key))
            self._frame[0] += 1
        handler = _HANDLERS.get(type(node))
        descend = True
        if handler is not None:
            descend = handler(self, node) is not False
        frame = self._frame
        if frame[0] or frame[1] or frame[2]:
            self._nested += frame[2]
            self._pushed[key] = (frame[0], frame[1], frame[2])
        return descend

    def on_leave(self, original_node: cst.CSTNode) -> None:
        pushed = self._pushed.pop(id(original_node), None)
        if pushed is not None:
            blockers, scopes, nested = pushed
            del self._blockers[len(self._blockers) - blockers :]
            del self._scopes[len(self._scopes) - scopes :]
            self._nested -= nested

    def _push(self, blocker: str | None) -> None:
        self._blockers.append(blocker)
        self._frame[0] += 1

    def _scope(self, names: set[str], nested: bool) -> None:
        self._bindings.update(names)
        self._push_scope(names)
        self._frame[1] += 1
        if nested:
            self._frame[2] += 1

    # -- node handlers -----------------------------------------------------------------
    def _on_call(self, node: cst.Call) -> None:
        genexp = consumed_genexp(node)
        if genexp is not None:
            self._consumed.add(id(genexp))
        if self._blockers[-1] is None:
            found = sort_key_reads(node)
            if found is not None:
                # Read for every item first, into a dict the key reads (see sort_key_reads).
                for call in found[2]:
                    self._pending[id(call)] = None
                    for arg in call.args:
                        self._pending[id(arg)] = "comprehension"
        ref = dotted_name(node.func)
        if ref is None:
            func = node.func
            built = (
                dotted_name(func.value.func)
                if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call)
                else None
            )
            if isinstance(func, cst.Attribute) and self._maybe_prime((func.attr.value,)):
                # ``Thing(x).prime_render()``: priming through an object, followed only
                # when ``Thing`` is a class the analysis knows.
                text = cst.Module(body=[]).code_for_node(func.value)
                ref = (" ".join(text.split()), func.attr.value)
                self._add("local-prime", ref, node, cls=built)
            elif isinstance(func, cst.Attribute) and built is not None:
                text = cst.Module(body=[]).code_for_node(func.value)
                ref = (" ".join(text.split()), func.attr.value)
                self._add("obj-read", ref, node, cls=built)
            elif is_dynamic_call(node):
                self._add("dynamic", (), node)
            return
        self._skip.add(id(node.func))
        deletable = False
        if self._maybe_prime(ref) and id(node) in self._stmt_calls:
            deletable = not any(has_call(arg.value) for arg in node.args)
        cls = self._constructed.get(ref[0]) if len(ref) == 2 else None
        self._add("call", ref, node, deletable, cls)

    def _on_name(self, node: cst.Name) -> None:
        if node.value.startswith(self.prefix):
            self._add("ref", (node.value,), node)

    def _on_string(self, node: cst.SimpleString) -> None:
        # getattr(module, "prime_f") keeps prime_f alive (see Program._compute_liveness).
        if self.prefix in node.value:
            try:
                value = node.evaluated_value
            except Exception:  # noqa: BLE001 - odd literals are simply not names
                return
            if isinstance(value, str) and value.startswith(self.prefix) and value.isidentifier():
                self._add("string", (value,), node)

    def _on_attribute(self, node: cst.Attribute) -> bool:
        self._skip.add(id(node.attr))
        ref = dotted_name(node)
        if ref is not None and self._maybe_prime(ref):
            self._add("ref", ref, node)
            return False
        return True

    def _on_line(self, node: cst.SimpleStatementLine) -> None:
        for small in node.body:
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                self._stmt_calls.add(id(small.value))

    def _on_targets(self, targets: list[cst.BaseExpression]) -> None:
        for target in targets:
            self._bind(target_names(target))
            if isinstance(target, cst.Name):
                self._skip.add(id(target))
            elif isinstance(target, (cst.Tuple, cst.List)):
                for el in target.elements:
                    if isinstance(el.value, cst.Name):
                        self._skip.add(id(el.value))

    def _on_assign(self, node: cst.Assign) -> None:
        self._on_targets([t.target for t in node.targets])

    def _on_augassign(self, node: cst.AugAssign | cst.AnnAssign) -> None:
        self._on_targets([node.target])

    def _on_import(self, node: cst.Import | cst.ImportFrom) -> bool:
        # A function-level import binds a local name, but what it names is still known:
        # sites through it are kept and resolved with the binding (see ``finish``).
        if self._scopes:
            self._scope_imports[self._scopes[-1]].update(import_bindings(node))
        return False

    def _on_global(self, node: cst.Global | cst.Nonlocal) -> bool:
        if self._scopes:
            self._scope_globals[self._scopes[-1]] |= {n.name.value for n in node.names}
        return False

    def _on_asname(self, node: cst.AsName) -> None:
        self._bind(target_names(node.name))

    def _on_walrus(self, node: cst.NamedExpr) -> None:
        self._bind(target_names(node.target))

    def _on_arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._skip.add(id(node.keyword))

    def _on_param(self, node: cst.Param) -> None:
        self._skip.add(id(node.name))

    def _on_comp(self, node: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp) -> None:
        cur = self._blockers[-1]
        unconsumed = isinstance(node, cst.GeneratorExp) and id(node) not in self._consumed
        self._push(cur or ("genexp" if unconsumed else "comprehension"))
        self._pending.setdefault(id(node.for_in.iter), cur)
        elt = node.value if isinstance(node, cst.DictComp) else node.elt
        if isinstance(elt, cst.Call) and not unconsumed:
            self._pending[id(elt)] = cur
            for arg in elt.args:
                self._pending[id(arg)] = cur or "comprehension"
        if cur is None and not unconsumed:
            # Read for every item first, in one batch (see two_phase_calls).
            for call in two_phase_calls(node):
                self._pending[id(call)] = None
                for arg in call.args:
                    self._pending[id(arg)] = "comprehension"
        self._scope(comp_target_names(node), nested=False)

    def _on_for(self, node: cst.For) -> None:
        cur = self._blockers[-1]
        self._push(cur or "for")
        self._bind(target_names(node.target))
        self._pending.setdefault(id(node.iter), cur)  # an outer loop may have hoisted it
        loop = match_collect_loop(node, self.fn)
        if loop is not None:
            self._pending[id(loop.value)] = cur
            for arg in loop.value.args:
                self._pending[id(arg)] = cur or "comprehension"
            if loop.condition is not None:
                self._pending[id(loop.condition)] = cur or "comprehension"
            if loop.key is not None:
                self._pending[id(loop.key)] = cur or "comprehension"
        if node.orelse is not None:
            self._pending[id(node.orelse)] = cur or "for-else"
        if cur is None and loop is None:
            # Read for every item first, in one batch (see hoistable_loop_calls).
            for call in hoistable_loop_calls(node):
                self._pending[id(call)] = None
                for arg in call.args:
                    self._pending[id(arg)] = "comprehension"

    def _block(self, blocker: str) -> None:
        self._push(self._blockers[-1] or blocker)

    def _on_while(self, node: cst.While) -> None:
        self._block("while")

    def _on_with(self, node: cst.With) -> None:
        self._block("with")

    def _on_match(self, node: cst.Match) -> None:
        self._block("match")

    def _on_trystar(self, node: cst.TryStar) -> None:
        self._block("try-star")

    def _on_try(self, node: cst.Try) -> None:
        cur = self._blockers[-1]
        if any(is_broad_handler(h) for h in node.handlers):
            self._pending[id(node.body)] = cur or "broad-except"
        if node.finalbody is not None:
            self._pending[id(node.finalbody)] = cur or "finally"

    def _on_lambda(self, node: cst.Lambda) -> None:
        self._block("lambda")
        self._scope(param_names(node.params), nested=True)

    def _on_def(self, node: cst.FunctionDef) -> None:
        self._block("nested-def")
        self._bind({node.name.value})
        self._skip.add(id(node.name))
        self._scope(param_names(node.params), nested=True)

    def _on_class(self, node: cst.ClassDef) -> None:
        self._block("nested-class")
        self._bind({node.name.value})
        self._skip.add(id(node.name))
        self._scope(set(), nested=True)

    def _on_yield(self, node: cst.Yield | cst.Await) -> None:
        if self._nested == 0:
            self.has_yield = True


_HANDLERS: dict[type[cst.CSTNode], Callable[[UnitAnalyzer, Any], object]] = {
    cst.Call: UnitAnalyzer._on_call,
    cst.Name: UnitAnalyzer._on_name,
    cst.Attribute: UnitAnalyzer._on_attribute,
    cst.SimpleString: UnitAnalyzer._on_string,
    cst.SimpleStatementLine: UnitAnalyzer._on_line,
    cst.Assign: UnitAnalyzer._on_assign,
    cst.AugAssign: UnitAnalyzer._on_augassign,
    cst.AnnAssign: UnitAnalyzer._on_augassign,
    cst.Import: UnitAnalyzer._on_import,
    cst.ImportFrom: UnitAnalyzer._on_import,
    cst.Global: UnitAnalyzer._on_global,
    cst.Nonlocal: UnitAnalyzer._on_global,
    cst.AsName: UnitAnalyzer._on_asname,
    cst.NamedExpr: UnitAnalyzer._on_walrus,
    cst.Arg: UnitAnalyzer._on_arg,
    cst.Param: UnitAnalyzer._on_param,
    cst.ListComp: UnitAnalyzer._on_comp,
    cst.SetComp: UnitAnalyzer._on_comp,
    cst.GeneratorExp: UnitAnalyzer._on_comp,
    cst.DictComp: UnitAnalyzer._on_comp,
    cst.For: UnitAnalyzer._on_for,
    cst.While: UnitAnalyzer._on_while,
    cst.With: UnitAnalyzer._on_with,
    cst.Match: UnitAnalyzer._on_match,
    cst.TryStar: UnitAnalyzer._on_trystar,
    cst.Try: UnitAnalyzer._on_try,
    cst.Lambda: UnitAnalyzer._on_lambda,
    cst.FunctionDef: UnitAnalyzer._on_def,
    cst.ClassDef: UnitAnalyzer._on_class,
    cst.Yield: UnitAnalyzer._on_yield,
    cst.Await: UnitAnalyzer._on_yield,
}


def top_level_units(
    module: cst.Module,
) -> tuple[list[cst.BaseStatement], list[cst.FunctionDef | None]]:
    """Split a module into units: unit 0 is every statement that is not a top-level
    function (module code, classes...); units 1.. are the top-level functions in order."""
    others: list[cst.BaseStatement] = []
    functions: list[cst.FunctionDef | None] = [None]
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            functions.append(stmt)
        else:
            others.append(stmt)
    return others, functions


def class_methods(module: cst.Module) -> dict[tuple[str, str], cst.FunctionDef]:
    """The methods defined directly in the module's top-level classes, by (class, name)
    (the last definition of a name wins)."""
    out: dict[tuple[str, str], cst.FunctionDef] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            for item in stmt.body.body:
                if isinstance(item, cst.FunctionDef):
                    out[(stmt.name.value, item.name.value)] = item
    return out


def _names_in(expr: cst.CSTNode) -> list[cst.Name]:
    out: list[cst.Name] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            out.append(node)
        elif isinstance(node, cst.Attribute):
            out.append(node.attr)
            stack.append(node.value)
        else:
            stack.extend(child_nodes(node))
    return out


def class_base_names(module: cst.Module) -> set[str]:
    """Every name in a base-class list of a class anywhere in ``module`` (``mod.Base`` gives
    ``mod`` and ``Base``): a class whose name is not among them is subclassed by none."""
    names: set[str] = set()
    stack: list[cst.CSTNode] = list(module.body)
    while stack:
        node = stack.pop()
        if isinstance(node, cst.SimpleStatementLine):
            continue  # no class statement below a simple statement
        if isinstance(node, cst.ClassDef):
            for arg in node.bases:
                names |= {n.value for n in _names_in(arg.value)}
        for part in ("body", "orelse", "handlers", "finalbody", "cases"):
            child = getattr(node, part, None)
            if isinstance(child, (list, tuple)):
                stack.extend(child)
            elif isinstance(child, cst.CSTNode):
                stack.append(child)
    return names


def method_receiver(fn: cst.FunctionDef) -> tuple[str | None, bool]:
    """The first parameter of a method (``self``; ``cls`` of a classmethod) and whether it
    names the class itself; (None, False) for a staticmethod or a method without one."""
    names = {dotted_name(d.decorator) for d in fn.decorators}
    if ("staticmethod",) in names:
        return None, False
    first = [*fn.params.posonly_params, *fn.params.params]
    if not first:
        return None, False
    return first[0].name.value, ("classmethod",) in names


def analyze_method(
    fn: cst.FunctionDef,
    config: MigrateConfig,
    keep_nodes: bool = False,
    self_class: str | None = None,
) -> UnitAnalyzer:
    """Run :class:`UnitAnalyzer` over one method (as over a function). With ``self_class``,
    priming calls through ``self`` or ``cls`` are recorded as calls on that class."""
    analyzer = UnitAnalyzer(config, fn, keep_nodes, self_class)
    analyzer.walk(fn.body)
    return analyzer.finish()


def _is_dunder_all(stmt: cst.BaseStatement) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if isinstance(small, cst.Assign):
        return any(dotted_name(t.target) == ("__all__",) for t in small.targets)
    if isinstance(small, (cst.AugAssign, cst.AnnAssign)):
        return dotted_name(small.target) == ("__all__",)
    return False


def analyze_units(
    module: cst.Module,
    config: MigrateConfig,
    keep_nodes: bool = False,
    only: set[int] | None = None,
) -> list[UnitAnalyzer | None]:
    """Run :class:`UnitAnalyzer` over every unit of ``module`` (see :func:`top_level_units`),
    or only over the units in ``only`` (the others are None)."""
    others, functions = top_level_units(module)
    out: list[UnitAnalyzer | None] = []
    if only is None or 0 in only:
        module_unit = UnitAnalyzer(config, None, keep_nodes)
        for index, stmt in enumerate(others):
            module_unit.statement = index
            if not _is_dunder_all(stmt):  # names listed there are not uses
                module_unit.walk(stmt)
        out.append(module_unit.finish())
    else:
        out.append(None)
    for index, fn in enumerate(functions[1:], start=1):
        assert fn is not None
        if only is not None and index not in only:
            out.append(None)
            continue
        analyzer = UnitAnalyzer(config, fn, keep_nodes)
        analyzer.walk(fn.body)
        out.append(analyzer.finish())
    return out


# ---------------------------------------------------------------------------------------
# Facts about one module (computed in a worker process, pickled to the parent)
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ImportBinding:
    """What a module-level import binds a local name to."""

    module: str  # dotted module as written ("" for ``from . import x``)
    name: str | None  # imported attribute; None for ``import module``
    level: int = 0  # number of leading dots of a relative import


@dataclasses.dataclass
class DecoratorFacts:
    """One decorator of a top-level function."""

    ref: Ref | None
    called: bool
    text: str
    cached: bool


@dataclasses.dataclass
class UnitFacts:
    """Facts about one unit: a top-level function (index >= 1) or the module code (0)."""

    index: int
    name: str
    sites: list[Site]
    is_async: bool = False
    has_yield: bool = False
    decorators: list[DecoratorFacts] = dataclasses.field(default_factory=list)
    #: for a priming twin: its first statement that does more than prime (as code)
    side_effect: str | None = None


@dataclasses.dataclass
class ModuleFacts:
    """Everything the whole-program analysis needs to know about one file."""

    path: str
    units: list[UnitFacts]
    imports: dict[str, ImportBinding]
    defs: dict[str, int]  # top-level function name -> unit index of its last definition
    aliases: dict[str, Ref]  # ``prime_f = f.prime``: alias name -> dotted name of f
    others: set[str]  # other names bound at module level
    primed_methods: list[tuple[str, str]]  # (class, method) pairs that have a twin
    star_imports: list[ImportBinding] = dataclasses.field(default_factory=list)
    #: (class, method) for priming methods with no method of the unprefixed name
    lone_prime_methods: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: ``prime_f = prime_g``: a priming name bound to another priming function
    twin_aliases: dict[str, Ref] = dataclasses.field(default_factory=dict)
    #: the methods that have a priming twin, analysed like functions ("Class.method")
    methods: dict[str, UnitFacts] = dataclasses.field(default_factory=dict)
    #: names defined in the body of each top-level class
    class_members: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: ``prime_f = prime_g`` -> index of that statement among the module unit's statements
    twin_alias_statements: dict[str, int] = dataclasses.field(default_factory=dict)
    #: the twins of the methods in ``methods``, by the method's name ("Class.method")
    method_twins: dict[str, UnitFacts] = dataclasses.field(default_factory=dict)
    #: priming methods that are no method's twin (``prime``, ``prime_all``), by
    #: "Class.method", analysed with ``self`` and ``cls`` known
    prime_methods: dict[str, UnitFacts] = dataclasses.field(default_factory=dict)
    #: every name that appears in a base-class list of a class of the module
    base_names: set[str] = dataclasses.field(default_factory=set)


def import_bindings(node: cst.Import | cst.ImportFrom) -> dict[str, ImportBinding]:
    """The names an import statement binds, and what each one refers to."""
    out: dict[str, ImportBinding] = {}
    if isinstance(node, cst.Import):
        for alias in node.names:
            ref = dotted_name(alias.name)
            if ref is None:
                continue
            if alias.asname is not None:
                for name in target_names(alias.asname.name):
                    out[name] = ImportBinding(".".join(ref), None)
            else:
                out[ref[0]] = ImportBinding(ref[0], None)
    elif not isinstance(node.names, cst.ImportStar):
        module = dotted_name(node.module) if node.module is not None else ()
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            local = alias.name.value
            if alias.asname is not None:
                names = target_names(alias.asname.name)
                local = next(iter(names)) if names else local
            out[local] = ImportBinding(".".join(module or ()), alias.name.value, len(node.relative))
    return out


def _collect_imports(
    stmts: list[cst.BaseStatement],
    out: dict[str, ImportBinding],
    stars: list[ImportBinding],
) -> None:
    for stmt in stmts:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    out.update(import_bindings(small))
                    if isinstance(small, cst.ImportFrom) and isinstance(
                        small.names, cst.ImportStar
                    ):
                        module = dotted_name(small.module) if small.module is not None else ()
                        stars.append(
                            ImportBinding(".".join(module or ()), None, len(small.relative))
                        )
        elif isinstance(stmt, (cst.If, cst.Try)):
            blocks: list[cst.BaseSuite] = [stmt.body]
            if isinstance(stmt, cst.Try):
                blocks += [h.body for h in stmt.handlers]
            orelse = stmt.orelse
            while orelse is not None:
                blocks.append(orelse.body)
                orelse = orelse.orelse if isinstance(orelse, cst.If) else None
            for block in blocks:
                if isinstance(block, cst.IndentedBlock):
                    _collect_imports(list(block.body), out, stars)


def _bound_names(stmt: cst.BaseStatement) -> set[str]:
    out: set[str] = set()
    if isinstance(stmt, cst.ClassDef):
        out.add(stmt.name.value)
    elif isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                for t in small.targets:
                    out |= target_names(t.target)
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                out |= target_names(small.target)
    elif isinstance(stmt, (cst.If, cst.Try, cst.For, cst.While, cst.With)):
        visitor = _LocalNames()
        stmt.visit(visitor)
        out |= visitor.names
    return out


def _code(node: cst.CSTNode, limit: int = 60) -> str:
    text = " ".join(cst.Module(body=[]).code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_priming_call(call: cst.Call, prefix: str) -> bool:
    ref = dotted_name(call.func)
    func = call.func
    if (
        ref is None
        and isinstance(func, cst.Attribute)
        and isinstance(func.value, cst.Call)
        and dotted_name(func.value.func) is not None
    ):
        # ``Book(x).prime_card()``: priming through an object built for it.
        return func.attr.value.startswith(prefix) or func.attr.value == "prime"
    if ref is None:
        return False
    return ref[-1].startswith(prefix) or ref[-1] == "prime" or ref[-2:] == ("priming", "drive")


def twin_side_effect(fn: cst.FunctionDef, prefix: str) -> str | None:
    """The first statement of a priming twin that does more than prime (a call that is not
    a priming call, a write to something not local, ``global``), as code; None if none."""
    local = local_names(fn)
    # Objects the twin made itself (not its parameters): calling their methods stays local.
    own = local - param_names(fn.params)

    def effect(stmts: Sequence[cst.CSTNode]) -> str | None:
        for stmt in stmts:
            found = statement_effect(stmt)
            if found is not None:
                return found
        return None

    def statement_effect(stmt: cst.CSTNode) -> str | None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                found = small_effect(small)
                if found is not None:
                    return found
            return None
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return None
        if isinstance(stmt, (cst.If, cst.For, cst.While, cst.Try, cst.With)):
            parts: list[cst.CSTNode] = []
            body = getattr(stmt, "body", None)
            if isinstance(body, cst.IndentedBlock):
                parts += list(body.body)
            if isinstance(stmt, cst.Try):
                for handler in stmt.handlers:
                    if isinstance(handler.body, cst.IndentedBlock):
                        parts += list(handler.body.body)
                if stmt.finalbody is not None and isinstance(stmt.finalbody.body, cst.IndentedBlock):
                    parts += list(stmt.finalbody.body.body)
            orelse = getattr(stmt, "orelse", None)
            while orelse is not None:
                if isinstance(orelse.body, cst.IndentedBlock):
                    parts += list(orelse.body.body)
                orelse = orelse.orelse if isinstance(orelse, cst.If) else None
            return effect(parts)
        return None

    def small_effect(small: cst.BaseSmallStatement) -> str | None:
        if isinstance(small, (cst.Global, cst.Nonlocal, cst.Del)):
            return _code(small)
        if isinstance(small, cst.Expr):
            value = small.value
            if isinstance(value, cst.Call) and not _is_priming_call(value, prefix):
                ref = dotted_name(value.func)
                if ref is None or len(ref) != 2 or ref[0] not in own:
                    return _code(small)
            if isinstance(value, (cst.Await,)):
                return _code(small)
            return None
        if isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
            targets = (
                [t.target for t in small.targets]
                if isinstance(small, cst.Assign)
                else [small.target]
            )
            for target in targets:
                plain = isinstance(target, (cst.Name, cst.Tuple, cst.List))
                if not plain or not target_names(target) <= local:
                    return _code(small)
        return None

    body = fn.body
    if isinstance(body, cst.SimpleStatementSuite):
        return effect([cst.SimpleStatementLine(body=body.body)])
    return effect(list(body.body))


def alias_target(stmt: cst.BaseStatement, prefix: str) -> tuple[str, Ref] | None:
    """``prime_f = f.prime`` -> ("prime_f", ("f",)); None for any other statement."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value.startswith(prefix)
        and isinstance(small.value, cst.Attribute)
        and small.value.attr.value == "prime"
    ):
        ref = dotted_name(small.value.value)
        if ref is not None:
            return small.targets[0].target.value, ref
    return None


def twin_alias_target(stmt: cst.BaseStatement, prefix: str) -> tuple[str, Ref] | None:
    """``prime_f = prime_g`` (or ``= module.prime_g``) -> ("prime_f", ref of prime_g)."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value.startswith(prefix)
    ):
        ref = dotted_name(small.value)
        if ref is not None and ref[-1].startswith(prefix):
            return small.targets[0].target.value, ref
    return None


def _decorator_facts(dec: cst.Decorator, config: MigrateConfig) -> DecoratorFacts:
    expr = dec.decorator
    called = isinstance(expr, cst.Call)
    if isinstance(expr, cst.Call):
        expr = expr.func
    ref = dotted_name(expr)
    cached = ref is not None and ref[-1] == config.cached_decorator
    text = cst.Module(body=[]).code_for_node(dec.decorator)
    return DecoratorFacts(ref, called, text, cached)


def collect_module_facts(path: str, module: cst.Module, config: MigrateConfig) -> ModuleFacts:
    """Learn what one parsed module defines, imports, primes and reads."""
    analyzers = analyze_units(module, config)
    others_stmts, functions = top_level_units(module)
    module_unit = analyzers[0]
    assert module_unit is not None
    units: list[UnitFacts] = [UnitFacts(0, "<module>", module_unit.sites)]
    defs: dict[str, int] = {}
    for index, fn in enumerate(functions[1:], start=1):
        assert fn is not None
        analyzer = analyzers[index]
        assert analyzer is not None
        units.append(
            UnitFacts(
                index,
                fn.name.value,
                analyzer.sites,
                is_async=fn.asynchronous is not None,
                has_yield=analyzer.has_yield,
                decorators=[_decorator_facts(d, config) for d in fn.decorators],
                side_effect=(
                    twin_side_effect(fn, config.prime_prefix)
                    if fn.name.value.startswith(config.prime_prefix)
                    else None
                ),
            )
        )
        defs[fn.name.value] = index
    imports: dict[str, ImportBinding] = {}
    stars: list[ImportBinding] = []
    _collect_imports(list(module.body), imports, stars)
    aliases: dict[str, Ref] = {}
    others: set[str] = set()
    primed_methods: list[tuple[str, str]] = []
    lone_prime_methods: list[tuple[str, str]] = []
    twin_aliases: dict[str, Ref] = {}
    twin_alias_statements: dict[str, int] = {}
    for statement_index, stmt in enumerate(others_stmts):
        alias = alias_target(stmt, config.prime_prefix)
        if alias is not None:
            aliases[alias[0]] = alias[1]
            continue
        other = twin_alias_target(stmt, config.prime_prefix)
        if other is not None:
            twin_aliases[other[0]] = other[1]
            twin_alias_statements[other[0]] = statement_index
        others |= _bound_names(stmt)
        if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            methods = {s.name.value for s in stmt.body.body if isinstance(s, cst.FunctionDef)}
            for name in sorted(methods):
                if config.prime_prefix + name in methods:
                    primed_methods.append((stmt.name.value, name))
                elif name.startswith(config.prime_prefix):
                    if name[len(config.prime_prefix) :] not in methods:
                        lone_prime_methods.append((stmt.name.value, name))
    for name in defs:
        aliases.pop(name, None)
    others -= set(defs) | set(aliases) | set(imports)
    method_facts: dict[str, UnitFacts] = {}
    method_twins: dict[str, UnitFacts] = {}
    class_members: dict[str, list[str]] = {}
    prime_methods: dict[str, UnitFacts] = {}
    base_names = class_base_names(module)
    for stmt in others_stmts:
        if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            for item in stmt.body.body:
                if isinstance(item, cst.FunctionDef) and (
                    item.name.value == "prime"
                    or (stmt.name.value, item.name.value) in lone_prime_methods
                ):
                    lone = analyze_method(item, config, self_class=stmt.name.value)
                    prime_methods[f"{stmt.name.value}.{item.name.value}"] = UnitFacts(
                        -1, f"{stmt.name.value}.{item.name.value}", lone.sites
                    )
            members: list[str] = []
            for item in stmt.body.body:
                if isinstance(item, (cst.FunctionDef, cst.ClassDef)):
                    members.append(item.name.value)
                else:
                    members.extend(sorted(_bound_names(item)))
            class_members[stmt.name.value] = members
    if primed_methods:
        found = class_methods(module)
        for cls, name in primed_methods:
            fn = found.get((cls, name))
            if fn is None:
                continue
            analyzer = analyze_method(fn, config, self_class=cls)
            method_facts[f"{cls}.{name}"] = UnitFacts(
                -1,
                f"{cls}.{name}",
                analyzer.sites,
                is_async=fn.asynchronous is not None,
                has_yield=analyzer.has_yield,
                decorators=[_decorator_facts(d, config) for d in fn.decorators],
            )
            twin_fn = found.get((cls, config.prime_prefix + name))
            if twin_fn is not None:
                twin_analyzer = analyze_method(twin_fn, config, self_class=cls)
                method_twins[f"{cls}.{name}"] = UnitFacts(
                    -1, f"{cls}.{config.prime_prefix}{name}", twin_analyzer.sites
                )
    return ModuleFacts(
        path,
        units,
        imports,
        defs,
        aliases,
        others,
        primed_methods,
        stars,
        lone_prime_methods,
        twin_aliases,
        method_facts,
        class_members,
        twin_alias_statements,
        method_twins,
        prime_methods,
        base_names,
    )


# ---------------------------------------------------------------------------------------
# The whole program: resolution, the conversion fixpoint, liveness of priming twins
# ---------------------------------------------------------------------------------------

Symbol = tuple[str, str]  # (path, top-level name)
#: ("sym", path, name) | ("prime", path, name) for ``f.prime`` | ("mod", path) | ("ext", dotted)
#: | ("method", path, "Class.method") for a method reached through its class
Target = tuple[str, ...]

_BLOCKER_SENTENCES = {
    "lambda": (
        "inside a lambda; a lambda cannot yield, so the read cannot join a batch. "
        "Move the read out of the lambda, then rerun"
    ),
    "nested-def": (
        "inside a nested function, which would have to become asynq too. "
        "Move the read into the outer function, then rerun"
    ),
    "nested-class": "inside a nested class. Move the read out of the class, then rerun",
    "with": (
        "inside a `with` block; yielding there would keep the context manager open while "
        "other tasks run. Read the value before the `with`, then rerun"
    ),
    "while": (
        "inside a `while` loop whose number of rounds may depend on the values read; "
        "converting it would cost one round trip per iteration. Rewrite it as a `for` loop "
        "or a comprehension, then rerun"
    ),
    "for": (
        "inside a `for` loop that does more than collect one read per item into a local "
        "list or dict; converting it would cost one round trip per item. Rewrite the loop "
        "as a comprehension over the cached call, then rerun"
    ),
    "for-else": "inside the `else` of a `for` loop. Move the read after the loop, then rerun",
    "comprehension": (
        "in a comprehension's condition, inner loop or inside a larger element expression; "
        "only a comprehension whose element is exactly the call becomes one batched yield. "
        "Compute the reads in their own comprehension first, then rerun"
    ),
    "genexp": (
        "in a generator expression that is not consumed at once by list(), tuple(), set(), "
        "sum(), min(), max(), any(), all(), sorted() or str.join(). Use a list "
        "comprehension, then rerun"
    ),
    "finally": (
        "inside a `finally` block, which also runs while the generator is being closed. "
        "Read the value before the `try`, then rerun"
    ),
    "broad-except": (
        "inside a `try` whose handler catches BaseException or GeneratorExit (or is a bare "
        "`except:`), which would also swallow the scheduler's own signals. Catch Exception "
        "instead, then rerun"
    ),
    "match": "inside a `match` statement, which the codemod does not rewrite. Read the "
    "value before the `match`, then rerun",
    "try-star": "inside a `try`/`except*`, which the codemod does not rewrite. Read the "
    "value before the `try`, then rerun",
}


def blocker_sentence(blocker: str) -> str:
    """The explanation of a blocker code (see ``BLOCKERS``)."""
    return _BLOCKER_SENTENCES.get(blocker, blocker)


@dataclasses.dataclass
class Refusal:
    """Something the codemod left untouched on purpose, to be reviewed by a person.

    ``unit``/``ordinal``/``method`` say where (the worker that rewrites the file turns
    them into ``line``).
    """

    path: str
    function: str
    reason: str
    unit: int | None = None
    ordinal: int | None = None
    method: tuple[str, str] | None = None
    line: int = 0

    def as_dict(self) -> dict[str, object]:
        """The JSON form used by ``--report``."""
        return {
            "file": self.path,
            "line": self.line,
            "function": self.function,
            "reason": self.reason,
        }


@dataclasses.dataclass
class FilePlan:
    """What the rewrite of one file must do; computed by :class:`Program`."""

    path: str
    #: converted function unit -> ordinals of its sites that are reads to turn into yields
    converted: dict[int, set[int]] = dataclasses.field(default_factory=dict)
    #: unit -> ordinals of whole-statement priming calls to delete
    deletions: dict[int, set[int]] = dataclasses.field(default_factory=dict)
    #: units (top-level twin functions) to delete
    delete_units: set[int] = dataclasses.field(default_factory=set)
    #: module-level ``prime_f = f.prime`` aliases to delete
    delete_aliases: set[str] = dataclasses.field(default_factory=set)
    #: units left exactly as they are (twins still needed by unconverted code)
    kept_units: set[int] = dataclasses.field(default_factory=set)
    #: twins and aliases of converted functions that stay, and why (reported)
    kept: list[Refusal] = dataclasses.field(default_factory=list)
    #: (class, method) of converted methods -> ordinals of their read sites
    converted_methods: dict[tuple[str, str], set[int]] = dataclasses.field(default_factory=dict)
    #: converted properties: they delegate to a new @asynq() ``get_<name>`` method
    properties: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    #: import bindings to drop when nothing uses them any more
    removable_imports: set[str] = dataclasses.field(default_factory=set)
    add_asynq_import: bool = False
    #: top-level names of the modules being migrated (imports of them are the project's own)
    local_roots: frozenset[str] = frozenset()
    refusals: list[Refusal] = dataclasses.field(default_factory=list)

    @property
    def has_work(self) -> bool:
        """Whether the rewrite could change anything in this file."""
        return bool(
            self.converted
            or self.converted_methods
            or any(self.deletions.values())
            or self.delete_units
            or self.delete_aliases
            or self.removable_imports
        )


def module_names(path: str) -> list[str]:
    """Dotted names under which ``path`` may be imported (every suffix of its path)."""
    parts = list(os.path.splitext(os.path.abspath(path))[0].split(os.sep))
    parts = [p for p in parts if p]
    if parts and parts[-1] == "__init__":
        parts.pop()
    names = []
    for start in range(len(parts) - 1, max(-1, len(parts) - 9), -1):
        chunk = parts[start:]
        if all(p.isidentifier() for p in chunk):
            names.append(".".join(chunk))
    return names


class Program:
    """The whole-program index: which functions are cached, primed, converted, and why not."""

    def __init__(
        self, facts: list[ModuleFacts], config: MigrateConfig, frozen: set[str] | None = None
    ) -> None:
        self.config = config
        #: files that are analysed but not rewritten (skipped): nothing in them changes
        self.frozen: set[str] = set(frozen or ())
        self.modules: dict[str, ModuleFacts] = {f.path: f for f in facts}
        self._by_name: dict[str, list[str]] = {}
        self._by_abspath: dict[str, str] = {}
        for path in self.modules:
            for name in module_names(path):
                self._by_name.setdefault(name, []).append(path)
            self._by_abspath[os.path.splitext(os.path.abspath(path))[0]] = path
        self._memo: dict[tuple[str, Ref], Target | None] = {}
        self.local_roots = frozenset(name.split(".")[0] for name in self._by_name)
        self.kinds: dict[Symbol, str] = {}
        self.twin_of: dict[Symbol, Symbol] = {}
        self.twins: dict[Symbol, Symbol] = {}  # function -> its twin
        self.alias_of: dict[Symbol, Symbol | None] = {}
        self.generator_twins: set[Symbol] = set()
        self.candidates: set[Symbol] = set()
        self.converted: set[Symbol] = set()
        self.reasons: dict[Symbol, list[Refusal]] = {}
        self.live: set[Symbol] = set()
        #: twins that do more than prime: never deleted (twin -> the statement, as code)
        self.effectful: dict[Symbol, str] = {}
        #: twins and aliases of converted (or cached, or asynq) functions that stay, and why
        self.kept: dict[Symbol, str] = {}
        self.why_live: dict[Symbol, str] = {}
        #: converted methods: (path, "Class.method") -> ordinals of their read sites
        self.converted_methods: dict[tuple[str, str], set[int]] = {}
        self.method_reasons: dict[tuple[str, str], list[str]] = {}
        #: properties converted into an @asynq() ``get_<name>`` method they delegate to
        self.property_getters: set[tuple[str, str]] = set()
        #: ``prime_f = prime_g`` twins, as units that call prime_g
        self.alias_twin_units: dict[Symbol, UnitFacts] = {}
        #: functions without twins converted because converted functions read them
        self.helpers: set[Symbol] = set()
        self._twin_problems: dict[Symbol, str | None] = {}
        self._prior_methods: dict[tuple[str, str], set[int]] = {}
        #: names that some class in the run lists among its bases
        self.base_names: set[str] = set().union(*(f.base_names for f in facts))
        self._classify()

    # -- module and name resolution -----------------------------------------------------
    def find_module(self, dotted: str, near: str, level: int = 0) -> str | None:
        """The indexed file for module ``dotted`` imported from ``near`` (None: not indexed)."""
        if level:
            base = os.path.dirname(os.path.abspath(near))
            for _ in range(level - 1):
                base = os.path.dirname(base)
            target = os.path.join(base, *dotted.split(".")) if dotted else base
            return self._by_abspath.get(target) or self._by_abspath.get(
                os.path.join(target, "__init__")
            )
        found = self._by_name.get(dotted)
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        here = os.path.abspath(near).split(os.sep)

        def closeness(candidate: str) -> int:
            there = os.path.abspath(candidate).split(os.sep)
            n = 0
            for a, b in zip(here, there, strict=False):
                if a != b:
                    break
                n += 1
            return n

        return max(sorted(found), key=closeness)

    def resolve(self, path: str, ref: Ref, depth: int = 0) -> Target | None:
        """What the dotted name ``ref`` used at module level of ``path`` refers to."""
        key = (path, ref)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = None  # guards against import cycles
        result = self._resolve(path, ref, depth)
        self._memo[key] = result
        return result

    def _resolve(self, path: str, ref: Ref, depth: int) -> Target | None:
        if depth > 10 or not ref:
            return None
        mod = self.modules[path]
        head, rest = ref[0], ref[1:]
        if head in mod.defs or head in mod.aliases:
            if not rest:
                return ("sym", path, head)
            if rest == ("prime",):
                return ("prime", path, head)
            return None
        if head in mod.imports:
            return self.resolve_binding(path, mod.imports[head], rest, depth)
        if head in mod.others:
            if len(rest) == 1 and rest[0] in mod.class_members.get(head, ()):
                # ``Class.method`` of a top-level class: a method, classmethod or
                # staticmethod reached through its class.
                return ("method", path, f"{head}.{rest[0]}")
            return ("sym", path, head) if not rest else None
        for star in mod.star_imports:  # from m import *: the name may come from m
            star_path = self.find_module(star.module, path, star.level)
            if star_path is not None:
                found = self.resolve(star_path, ref, depth + 1)
                if found is not None:
                    return found
        return None

    def resolve_binding(
        self, path: str, b: ImportBinding, rest: Ref, depth: int = 0
    ) -> Target | None:
        """What ``<name bound by b>.<rest>`` refers to, for an import made in ``path``."""
        if b.name is None:
            return self._resolve_dotted(b.module.split("."), rest, path, b.level, depth)
        joined = f"{b.module}.{b.name}" if b.module else b.name
        sub = self.find_module(joined, path, b.level)
        if sub is not None:
            return self._attr_of_module(sub, rest, depth)
        base = self.find_module(b.module, path, b.level) if (b.module or b.level) else None
        if base is not None:
            return self._attr_of_module(base, (b.name, *rest), depth)
        if b.level:
            return None
        return ("ext", ".".join((joined, *rest)))

    def _attr_of_module(self, mpath: str, names: Ref, depth: int) -> Target | None:
        if not names:
            return ("mod", mpath)
        return self.resolve(mpath, names, depth + 1)

    def _resolve_dotted(
        self, parts: list[str], rest: Ref, near: str, level: int, depth: int
    ) -> Target | None:
        full = [*parts, *rest]
        for i in range(len(full), 0, -1):
            mpath = self.find_module(".".join(full[:i]), near, level)
            if mpath is not None:
                return self._attr_of_module(mpath, tuple(full[i:]), depth)
        return None if level else ("ext", ".".join(full))

    def target_of(self, path: str, site: Site) -> Target | None:
        """What a call or reference site refers to."""
        if site.kind in ("local-prime", "obj-read"):
            return self._object_method(path, site)
        if site.kind in ("dynamic", "string") or not site.ref:
            return None
        if site.local_import is not None:
            return self.resolve_binding(path, site.local_import, site.ref[1:])
        return self.resolve(path, site.ref)

    def _object_method(self, path: str, site: Site) -> Target | None:
        """The method ``obj.m`` names when the object's class is known (``book = Book(x)``
        or ``Book(x).m()``) and defined in this run; None otherwise."""
        if site.cls is None or len(site.ref) != 2:
            return None
        found = self.resolve(path, site.cls)
        if found is None or found[0] != "sym":
            return None
        if site.via_self and found[2] in self.base_names:
            return None  # ``self`` may be an object of a subclass that overrides the method
        members = self.modules[found[1]].class_members.get(found[2])
        if members is None or site.ref[1] not in members:
            return None
        return ("method", found[1], f"{found[2]}.{site.ref[1]}")

    def site_kind(self, path: str, site: Site) -> str:
        """``"call"`` for a call of a method on an object of a known class (for a priming
        call, only of the twin of a method: ``book.prime()`` stays unfollowed), else the
        kind the analysis recorded."""
        if site.kind in ("local-prime", "obj-read"):
            target = self._object_method(path, site)
            if target is not None and (
                site.kind == "obj-read" or self.owner_of_prime(target) is not None
            ):
                return "call"
        return site.kind

    def is_priming_name(self, site: Site, target: Target | None) -> bool:
        """Whether a call looks like priming: ``prime_*``, or ``Class.prime`` of a class."""
        if not site.ref:
            return False
        if site.ref[-1].startswith(self.config.prime_prefix):
            return True
        return target is not None and target[0] == "method" and site.ref[-1] == "prime"

    # -- classification of top-level symbols ------------------------------------------------
    def _is_generator_decorator(self, path: str, dec: DecoratorFacts) -> bool:
        if dec.ref is None or dec.called:
            return False
        target = self.resolve(path, dec.ref)
        wanted = [self.config.priming_module, self.config.generator_decorator]
        if target is None:
            return False
        if target[0] == "ext":
            return target[1].split(".")[-2:] == wanted
        if target[0] == "sym":
            stem = os.path.splitext(os.path.basename(target[1]))[0]
            return [stem, target[2]] == wanted
        return False

    def _is_asynq_decorator(self, path: str, dec: DecoratorFacts) -> bool:
        if dec.ref is None:
            return False
        target = self.resolve(path, dec.ref)
        return target is not None and target[0] == "ext" and target[1] in _ASYNQ_DECORATORS

    def is_priming_binding(self, path: str, name: str) -> bool:
        """Whether import binding ``name`` is the priming module or its generator decorator."""
        target = self.resolve(path, (name,))
        if target is None:
            return False
        module, attr = self.config.priming_module, self.config.generator_decorator
        if target[0] == "ext":
            tail = target[1].split(".")
            return tail[-1] == module or tail[-2:] == [module, attr]
        if target[0] == "mod":
            return os.path.splitext(os.path.basename(target[1]))[0] == module
        return False

    def _classify(self) -> None:
        prefix = self.config.prime_prefix
        for path, mod in self.modules.items():
            for name, index in mod.defs.items():
                unit = mod.units[index]
                decs = unit.decorators
                if any(d.cached for d in decs):
                    kind = "cached"
                elif any(self._is_asynq_decorator(path, d) for d in decs):
                    kind = "asynq"
                elif name.startswith(prefix) and name[len(prefix) :] in mod.defs:
                    kind = "twin"
                    owner = (path, name[len(prefix) :])
                    self.twin_of[(path, name)] = owner
                    self.twins[owner] = (path, name)
                    if any(self._is_generator_decorator(path, d) for d in decs):
                        self.generator_twins.add((path, name))
                    if unit.side_effect is not None:
                        self.effectful[(path, name)] = unit.side_effect
                else:
                    kind = "def"
                self.kinds[(path, name)] = kind
            for name, ref in mod.aliases.items():
                self.kinds[(path, name)] = "alias"
                target = self.resolve(path, ref)
                alias_owner: Symbol | None = None
                if target is not None and target[0] == "sym":
                    alias_owner = (target[1], target[2])
                self.alias_of[(path, name)] = alias_owner
            for name, ref in mod.twin_aliases.items():
                function = name[len(prefix) :]
                if function in mod.defs and (path, name) not in self.kinds:
                    # ``prime_f = prime_g``: the twin of f primes what prime_g primes.
                    sym = (path, name)
                    self.kinds[sym] = "twin"
                    self.twin_of[sym] = (path, function)
                    self.twins[(path, function)] = sym
                    self.alias_twin_units[sym] = UnitFacts(
                        -1, name, [Site(0, "call", ref, None, deletable=True)]
                    )
        for fn, twin in self.twins.items():
            if self.kinds.get(twin) == "twin" and self.kinds.get(fn) == "def":
                self.candidates.add(fn)

    def owner_of_prime(self, target: Target | None) -> Symbol | None:
        """The function whose keys a priming name primes (None: not a priming name)."""
        if target is None:
            return None
        if target[0] == "prime":
            return (target[1], target[2])
        if target[0] == "method":
            cls, _, method = target[2].partition(".")
            prefix = self.config.prime_prefix
            if method.startswith(prefix):
                pair = (cls, method[len(prefix) :])
                if pair in self.modules[target[1]].primed_methods:
                    return (target[1], f"{cls}.{pair[1]}")
            return None
        if target[0] != "sym":
            return None
        sym = (target[1], target[2])
        if sym in self.twin_of:
            return self.twin_of[sym]
        if sym in self.alias_of:
            return self.alias_of[sym]
        return None

    def is_async_capable(self, sym: Symbol) -> bool:
        """Cached, already ``@asynq()``, or converted by this run (a function or a method)."""
        return (
            self.kinds.get(sym) in ("cached", "asynq")
            or sym in self.converted
            or sym in self.converted_methods
        )

    @staticmethod
    def is_method(sym: Symbol | None) -> bool:
        """Whether a symbol names a method (``"Class.method"``) rather than a function."""
        return sym is not None and "." in sym[1]

    def display(self, sym: Symbol, here: str) -> str:
        """How to name ``sym`` in a message written about file ``here``."""
        if sym[0] == here:
            return sym[1]
        return f"{sym[1]} (in {sym[0]})"

    def unit_of(self, sym: Symbol) -> UnitFacts | None:
        """The unit that defines a top-level function (for ``prime_f = prime_g``, a unit
        that calls ``prime_g``)."""
        alias_unit = self.alias_twin_units.get(sym)
        if alias_unit is not None:
            return alias_unit
        mod = self.modules.get(sym[0])
        if mod is None or sym[1] not in mod.defs:
            return None
        return mod.units[mod.defs[sym[1]]]

    # -- the conversion decision -------------------------------------------------------------
    def _local_reasons(self, fn: Symbol) -> list[Refusal]:
        path, name = fn
        mod = self.modules[path]
        unit = self.unit_of(fn)
        twin_sym = self.twins[fn]
        twin = self.unit_of(twin_sym)
        assert unit is not None and twin is not None
        twin_name = twin_sym[1]
        out: list[Refusal] = []

        def refuse(reason: str, where: UnitFacts, site: Site | None = None) -> None:
            if where.index < 0:  # a ``prime_f = prime_g`` twin: point at the function
                where, site = unit, None
            out.append(Refusal(path, name, reason, where.index, site.ordinal if site else None))

        if path in self.frozen:
            refuse(f"{name} is in a file this run does not rewrite.", unit)
            return out
        if unit.is_async:
            refuse(
                f"{name} is an `async def`; asynq functions are generators. Convert it by hand.",
                unit,
            )
        if unit.has_yield:
            refuse(
                f"{name} already contains `yield` or `await`, so it cannot become an "
                "asynq generator automatically. Convert it by hand.",
                unit,
            )
        for dec in unit.decorators:
            refuse(
                f"{name} has the decorator @{dec.text}, which may not accept a generator "
                "function. Remove or move the decorator, or convert it by hand.",
                unit,
            )
        asynq_binding = mod.imports.get("asynq")
        if (
            asynq_binding is not None
            and self.resolve(path, ("asynq",))
            not in (("ext", "asynq.asynq"), ("ext", "asynq.decorators.asynq"))
        ) or ("asynq" in mod.defs or "asynq" in mod.others):
            refuse(
                "this module already uses the name `asynq` for something else, so the "
                "`@asynq()` decorator cannot be imported. Rename that binding, then rerun.",
                unit,
            )
        if twin.is_async:
            refuse(
                f"its twin {twin_name} is an `async def`, which the legacy priming "
                "runtime does not drive. Convert it by hand.",
                twin,
            )
        for site in twin.sites:
            kind = self.site_kind(path, site)
            if kind == "local-prime":
                refuse(
                    f"its twin {twin_name} calls {'.'.join(site.ref)}, a priming method of "
                    "an object, which the codemod does not follow; converting "
                    f"{name} would lose that batching. Convert it by hand, or prime "
                    "through module-level twins, then rerun.",
                    twin,
                    site,
                )
            elif kind == "dynamic":
                refuse(
                    f"its twin {twin_name} makes a dynamic call (such as getattr(...)()), "
                    "so what it primes cannot be known. Spell the priming call out, "
                    "then rerun.",
                    twin,
                    site,
                )
            elif kind == "call" and self.is_priming_name(
                site, target := self.target_of(path, site)
            ):
                unfollowed = self._unfollowed_prime(target)
                if unfollowed is not None:
                    refuse(
                        f"its twin {twin_name} calls {'.'.join(site.ref)}, {unfollowed}; "
                        f"converting {name} would lose that batching. Convert it by hand, or "
                        "prime through twins that name what they prime, then rerun.",
                        twin,
                        site,
                    )
                elif self.owner_of_prime(target) is None and self._lone_primes(target) is None:
                    refuse(
                        f"its twin {twin_name} calls {'.'.join(site.ref)}, which is not a "
                        "priming twin defined in the files being migrated. Include the "
                        "module that defines it in the run, then rerun.",
                        twin,
                        site,
                    )
        for site in unit.sites:
            if site.kind == "call" and self.target_of(path, site) == ("sym", path, name):
                refuse(
                    f"{name} calls itself: each level of the recursion would wait for the "
                    "reads of the level above, while its twin fetches a whole level per "
                    "round, so converting it could cost more round trips. It is left "
                    "working as it is; convert it by hand (for example level by level, "
                    "yielding the reads of a whole level together).",
                    unit,
                    site,
                )
                break
        for site in unit.sites:
            if site.kind == "dynamic":
                refuse(
                    f"{name} makes a dynamic call (such as getattr(...)()) that may read a "
                    "cached value the codemod cannot see. Call the function by name, "
                    "then rerun.",
                    unit,
                    site,
                )
                continue
            owner = self.owner_of_prime(self.target_of(path, site))
            if owner is None or self.is_method(owner):
                continue  # priming methods stay, and so do the calls of them
            if site.kind == "ref":
                refuse(
                    f"{name} uses the priming function {'.'.join(site.ref)} as a value, "
                    "which the codemod cannot remove. Call it as a statement or drop it, "
                    "then rerun.",
                    unit,
                    site,
                )
            elif site.local_import is not None:
                refuse(
                    f"{name} calls {'.'.join(site.ref)} through an import made inside the "
                    "function, which the codemod does not remove. Import it at module level "
                    "(or delete the call), then rerun.",
                    unit,
                    site,
                )
            elif not site.deletable:
                refuse(
                    f"{name} calls {'.'.join(site.ref)} in an expression or with "
                    "arguments that have side effects, so the priming call cannot simply "
                    "be deleted. Make it a plain statement, then rerun.",
                    unit,
                    site,
                )
        return out

    def _dependent_reasons(self, fn: Symbol) -> list[Refusal]:
        path, name = fn
        unit = self.unit_of(fn)
        twin_sym = self.twins[fn]
        twin = self.unit_of(twin_sym)
        assert unit is not None and twin is not None
        out: list[Refusal] = []
        reads: dict[Symbol, Site] = {}
        for site in unit.sites:
            if self.site_kind(path, site) != "call":
                continue
            target = self.target_of(path, site)
            if target is None or target[0] not in ("sym", "method"):
                continue
            callee = (target[1], target[2])
            if target[0] == "method":
                if callee[1] not in self.modules[callee[0]].methods:
                    continue  # a method without a twin: read as before, synchronously
            elif callee == fn or not (self.is_async_capable(callee) or callee in self.candidates):
                continue
            reads.setdefault(callee, site)
            shown = self.display(callee, path)
            if site.blocker is not None:
                out.append(
                    Refusal(
                        path,
                        name,
                        f"{name} reads {shown} {blocker_sentence(site.blocker)}.",
                        unit.index,
                        site.ordinal,
                    )
                )
            elif target[0] == "method" and callee not in self.converted_methods:
                out.append(
                    Refusal(
                        path,
                        name,
                        f"{name} reads {shown}, which is not converted (see its own entry); "
                        f"converting only the caller would fetch {callee[1]}'s keys one call "
                        f"at a time. Convert {callee[1]} first, then rerun.",
                        unit.index,
                        site.ordinal,
                    )
                )
            elif callee in self.candidates and callee not in self.converted:
                why = (
                    "its file is not rewritten by this run"
                    if callee[0] in self.frozen
                    else "see its own entry"
                )
                out.append(
                    Refusal(
                        path,
                        name,
                        f"{name} reads {shown}, which is not converted ({why}); converting "
                        f"only the caller would fetch {callee[1]}'s keys one call at a time. "
                        f"Convert {callee[1]} first, then rerun.",
                        unit.index,
                        site.ordinal,
                    )
                )
        through_helpers = self._read_through_helpers(set(reads))
        seen_reads = set(reads) | through_helpers
        for site in twin.sites:
            if self.site_kind(path, site) != "call":
                continue
            target = self.target_of(path, site)
            owner = self.owner_of_prime(target)
            if owner is None:
                # A priming function of no function: what it primes must be read here.
                lone = self._lone_primes(target)
                if lone is not None and not lone <= seen_reads:
                    missing = sorted(lone - seen_reads)[0]
                    shown = self.display(missing, path)
                    out.append(
                        Refusal(
                            path,
                            name,
                            f"its twin {twin_sym[1]} calls {'.'.join(site.ref)}, which "
                            f"primes {shown}, but {name} never reads {missing[1]} "
                            "directly, so converting would lose that batching.",
                            twin.index if twin.index >= 0 else unit.index,
                            site.ordinal if twin.index >= 0 else None,
                        )
                    )
                continue
            problem = self.method_twin_problem(owner) if self.is_method(owner) else None
            if problem is not None:
                out.append(
                    Refusal(
                        path,
                        name,
                        f"its twin {twin_sym[1]} calls {'.'.join(site.ref)}, but {problem}, "
                        f"so reading {owner[1]} instead would lose that batching. Make the "
                        f"twin prime only what {owner[1]} reads, or convert {name} by hand, "
                        "then rerun.",
                        twin.index if twin.index >= 0 else unit.index,
                        site.ordinal if twin.index >= 0 else None,
                    )
                )
                reads[owner] = site  # one message per primed method
                continue
            if owner not in reads and owner not in through_helpers:
                # Reading what the owner's twin primes is as good as reading the owner.
                expanded = self._expand_primes(
                    self.twins.get(owner) if owner in self.twins else None, set()
                )
                if expanded and expanded <= seen_reads:
                    continue
                shown = self.display(owner, path)
                out.append(
                    Refusal(
                        path,
                        name,
                        f"its twin {twin_sym[1]} primes {shown}, but "
                        f"{name} never reads {owner[1]} directly (maybe through a "
                        "helper function), so converting would lose that batching. "
                        "Give the helper its own twin or read the value in "
                        f"{name}, then rerun.",
                        twin.index if twin.index >= 0 else unit.index,
                        site.ordinal if twin.index >= 0 else None,
                    )
                )
                reads[owner] = site  # one message per primed function
        if not reads and not out:
            out.append(
                Refusal(
                    path,
                    name,
                    f"{name} reads no cached or primed function, so "
                    "there is nothing to batch. Delete its twin "
                    f"{twin_sym[1]} by hand if it is unused.",
                    unit.index,
                )
            )
        return out

    def _unfollowed_prime(self, target: Target | None) -> str | None:
        """Why a priming function defined in this run cannot be followed (None: it can be,
        or it is not defined in this run)."""
        if target is None:
            return None
        if target[0] == "method":
            cls, _, method = target[2].partition(".")
            if self.owner_of_prime(target) is None:
                prefix = self.config.prime_prefix
                if not method.startswith(prefix):
                    return (
                        f"a priming method of {cls} (in {target[1]}) that is no method's "
                        "twin, so what it primes is not followed"
                    )
                plain = method[len(prefix) :]
                return (
                    f"a priming method of {cls} (in {target[1]}) with no method {plain} beside "
                    "it, so what it primes is not followed"
                )
            return None
        if target[0] != "sym":
            return None
        sym = (target[1], target[2])
        if sym in self.twin_of or self.kinds.get(sym) != "def":
            return None
        if not sym[1].startswith(self.config.prime_prefix):
            return None
        if self._expand_primes(sym, set()) is None:
            return (
                f"a priming function (in {sym[0]}) that primes through an object or a "
                "dynamic call (such as a table of priming functions), so what it primes "
                "cannot be followed"
            )
        return None

    def method_twin_problem(self, method: Symbol, seen: set[Symbol] | None = None) -> str | None:
        """Why the twin of a method primes more than the method reads (None: it primes only
        what the method reads, as far as the analysis can follow). A caller that reads the
        method instead of priming it keeps its batching only when this is None."""
        if seen is None:
            if method in self._twin_problems:
                return self._twin_problems[method]
            seen = set()
        if method in seen:
            return None
        seen.add(method)
        path = method[0]
        mod = self.modules[path]
        unit = mod.methods.get(method[1])
        twin = mod.method_twins.get(method[1])
        problem: str | None = None
        if unit is None or twin is None:
            problem = f"{twin.name if twin else method[1]} cannot be analysed"
        else:
            reads: set[Symbol] = set()
            yielded = self.converted_methods.get(method, set())
            for site in unit.sites:
                if site.via_self and site.ordinal not in yielded:
                    continue  # ``self.m()`` left a plain call: what m reads is not batched
                target = self.target_of(path, site)
                if self.site_kind(path, site) == "call" and target and target[0] in (
                    "sym",
                    "method",
                ):
                    reads.add((target[1], target[2]))
            for site in twin.sites:
                kind = self.site_kind(path, site)
                shown = ".".join(site.ref) if site.ref else "a dynamic call"
                if kind == "local-prime":
                    lone = self._method_primes(self.target_of(path, site), set())
                    if lone is None:
                        problem = f"{twin.name} primes through {shown}, which cannot be followed"
                        break
                    if not lone <= reads:
                        missing = sorted(lone - reads)[0]
                        problem = (
                            f"{twin.name} calls {shown}, which primes {missing[1]}, "
                            f"which {method[1]} does not read"
                        )
                        break
                    continue
                if kind == "dynamic":
                    problem = f"{twin.name} primes through {shown}, which cannot be followed"
                    break
                if kind != "call":
                    continue
                target = self.target_of(path, site)
                owner = self.owner_of_prime(target)
                if owner is None:
                    if self.is_priming_name(site, target):
                        lone = (
                            self._method_primes(target, set())
                            if target is not None and target[0] == "method"
                            else self._lone_primes(target)
                        )
                        if lone is None:
                            problem = f"{twin.name} calls {shown}, which cannot be followed"
                            break
                        if not lone <= reads:
                            missing = sorted(lone - reads)[0]
                            problem = (
                                f"{twin.name} calls {shown}, which primes {missing[1]}, "
                                f"which {method[1]} does not read"
                            )
                            break
                    continue  # a read that decides what to prime next
                if owner not in reads:
                    problem = (
                        f"{twin.name} primes {owner[1]}, which {method[1]} does not read"
                    )
                    break
                if self.is_method(owner):
                    problem = self.method_twin_problem(owner, seen)
                    if problem is not None:
                        break
        if len(seen) == 1:
            self._twin_problems[method] = problem
        return problem

    def _method_primes(self, target: Target | None, seen: set[str]) -> set[Symbol] | None:
        """For a priming method of a known class that is no method's twin (``Book.prime``,
        reached through ``self.prime()``): what it primes (None: not such a method, or it
        primes what cannot be followed)."""
        if target is None or target[0] != "method" or target[2] in seen:
            return None if target is None or target[0] != "method" else set()
        seen.add(target[2])
        path = target[1]
        unit = self.modules[path].prime_methods.get(target[2])
        if unit is None:
            return None
        out: set[Symbol] = set()
        for site in unit.sites:
            kind = self.site_kind(path, site)
            if kind == "dynamic":
                return None
            if kind == "local-prime":
                more = self._method_primes(self.target_of(path, site), seen)
                if more is None:
                    return None
                out |= more
                continue
            if kind != "call":
                continue
            inner = self.target_of(path, site)
            owner = self.owner_of_prime(inner)
            if owner is not None and self.is_method(owner):
                if self.method_twin_problem(owner) is not None:
                    return None
            if owner is not None:
                out.add(owner)
                if inner is not None and inner[0] == "sym" and (inner[1], inner[2]) in self.twin_of:
                    more = self._expand_primes((inner[1], inner[2]), set())
                    if more is None:
                        return None
                    out |= more
            elif site.ref and self.is_priming_name(site, inner):
                if inner is None or inner[0] != "sym":
                    return None
                more = self._expand_primes((inner[1], inner[2]), set())
                if more is None:
                    return None
                out |= more
        return out

    def _lone_primes(self, target: Target | None) -> set[Symbol] | None:
        """For a priming function that is nobody's twin (``prime_page_widgets``): what it
        primes, expanded (None: not such a function, or it primes what cannot be followed)."""
        if target is None or target[0] != "sym":
            return None
        sym = (target[1], target[2])
        if sym in self.twin_of or self.kinds.get(sym) != "def":
            return None
        if not sym[1].startswith(self.config.prime_prefix):
            return None
        return self._expand_primes(sym, set())

    def _expand_primes(self, sym: Symbol | None, seen: set[Symbol]) -> set[Symbol] | None:
        """The functions whose keys the priming function ``sym`` primes, through the twins
        and priming functions it calls (None: something it primes cannot be followed)."""
        if sym is None or sym in seen:
            return set() if sym is not None else None
        seen.add(sym)
        if sym in self.alias_of:
            owner = self.alias_of[sym]
            return {owner} if owner is not None else None
        unit = self.unit_of(sym)
        if unit is None:
            return None
        out: set[Symbol] = set()
        for site in unit.sites:
            kind = self.site_kind(sym[0], site)
            if kind in ("dynamic", "local-prime"):
                return None
            if kind != "call":
                continue
            target = self.target_of(sym[0], site)
            owner = self.owner_of_prime(target)
            if owner is not None and self.is_method(owner):
                if self.method_twin_problem(owner) is not None:
                    return None  # it primes more than the method reads
            if owner is not None:
                out.add(owner)
                if target is not None and target[0] == "sym":
                    inner = (target[1], target[2])
                    if inner in self.twin_of:
                        more = self._expand_primes(inner, seen)
                        if more is None:
                            return None
                        out |= more
            elif site.ref and self.is_priming_name(site, target):
                if target is not None and target[0] == "method":
                    # ``Book(x).prime()``: what that priming method primes
                    more = self._method_primes(target, set())
                else:
                    more = self._expand_primes(
                        (target[1], target[2])
                        if target is not None and target[0] == "sym"
                        else None,
                        seen,
                    )
                if more is None:
                    return None
                out |= more
        return out

    def _read_through_helpers(self, start: set[Symbol]) -> set[Symbol]:
        """What the converted helpers among ``start`` read, transitively."""
        seen: set[Symbol] = set()
        work = [sym for sym in start if sym in self.helpers]
        while work:
            helper = work.pop()
            if helper in seen or helper not in self.converted:
                continue
            seen.add(helper)
            unit = self.unit_of(helper)
            assert unit is not None
            for site in unit.sites:
                target = self.target_of(helper[0], site)
                if site.kind == "call" and target is not None and target[0] == "sym":
                    callee = (target[1], target[2])
                    seen.add(callee)
                    if callee in self.helpers:
                        work.append(callee)
        return seen

    def _helper_reasons(self, fn: Symbol, local_only: bool) -> bool:
        """Whether a function without a twin cannot become an ``@asynq()`` helper of the
        functions converted with it (True: it cannot)."""
        path, name = fn
        mod = self.modules[path]
        unit = self.unit_of(fn)
        assert unit is not None
        if path in self.frozen or unit.is_async or unit.has_yield or unit.decorators:
            return True
        if ("asynq" in mod.defs or "asynq" in mod.others) or (
            mod.imports.get("asynq") is not None
            and self.resolve(path, ("asynq",))
            not in (("ext", "asynq.asynq"), ("ext", "asynq.decorators.asynq"))
        ):
            return True
        reads = 0
        for site in unit.sites:
            if site.kind in ("dynamic", "local-prime", "ref"):
                return True
            target = self.target_of(path, site)
            owner = self.owner_of_prime(target)
            if owner is not None and not self.is_method(owner):
                return True  # it primes: leave it to its own twin, if any
            if site.kind != "call" or target is None or target[0] != "sym":
                continue
            callee = (target[1], target[2])
            if callee == fn:
                return True  # recursion (see _local_reasons)
            if self.kinds.get(callee) in ("cached", "asynq") or callee in self.candidates or (
                callee in self.helpers
            ):
                if site.blocker is not None:
                    return True
                if local_only:
                    reads += 1
                elif self.is_async_capable(callee):
                    reads += 1
                else:
                    return True  # reads something that stays synchronous
        return reads == 0

    def decide(self) -> None:
        """Compute which primed functions are converted (the largest consistent set), and the
        plain helper functions without twins that they read, converted with them."""
        local = {fn: self._local_reasons(fn) for fn in sorted(self.candidates)}
        self.converted = {fn for fn, reasons in local.items() if not reasons}
        self.helpers = {
            sym
            for sym, kind in self.kinds.items()
            if kind == "def"
            and sym not in self.candidates
            and not sym[1].startswith(self.config.prime_prefix)
            and self.unit_of(sym) is not None
        }
        self.helpers = {h for h in self.helpers if not self._helper_reasons(h, local_only=True)}
        self.converted |= self.helpers
        readers: dict[Symbol, set[Symbol]] = {}
        for fn in self.candidates | self.helpers:
            unit = self.unit_of(fn)
            assert unit is not None
            for site in unit.sites:
                target = self.target_of(fn[0], site)
                if target is not None and target[0] in ("sym", "method"):
                    readers.setdefault((target[1], target[2]), set()).add(fn)
        # Functions may read converted methods (``Class.method(x)``) and methods may read
        # converted functions: decide both until neither set shrinks any more.
        self._decide_methods()
        while True:
            work = sorted(self.converted)
            while work:
                fn = work.pop()
                if fn not in self.converted:
                    continue
                blocked = (
                    self._helper_reasons(fn, local_only=False)
                    if fn in self.helpers
                    else bool(self._dependent_reasons(fn))
                )
                if blocked:
                    self.converted.discard(fn)
                    work.extend(sorted(r for r in readers.get(fn, ()) if r in self.converted))
            # A helper is converted only for the converted functions that read it.
            while True:
                needed: set[Symbol] = set()
                for fn in self.converted:
                    for caller in readers.get(fn, ()):
                        if caller in self.converted and caller != fn:
                            needed.add(fn)
                unused = {h for h in self.helpers & self.converted if h not in needed}
                if not unused:
                    break
                self.converted -= unused
            self.helpers &= self.converted
            before = dict(self.converted_methods)
            self._decide_methods()
            if self.converted_methods == before:
                break
        for fn in sorted(self.candidates - self.converted):
            self.reasons[fn] = local[fn] + self._dependent_reasons(fn)
        self._compute_liveness()

    def _decide_methods(self) -> None:
        """Decide every method with a twin against the functions converted so far (and,
        for ``self.m()`` reads, against the methods converted in the previous pass, until
        that settles)."""
        self._twin_problems.clear()
        self._prior_methods = {}
        while True:  # the prior only grows, so this settles
            self.method_reasons = {}
            self.converted_methods = {}
            self.property_getters = set()
            for path, mod in self.modules.items():
                for name, unit in mod.methods.items():
                    reasons, reads = self._method_decision(path, name, unit)
                    if reasons:
                        self.method_reasons[(path, name)] = reasons
                    else:
                        self.converted_methods[(path, name)] = reads
            if self.converted_methods == self._prior_methods:
                break
            self._prior_methods = dict(self.converted_methods)

    def _method_decision(
        self, path: str, name: str, unit: UnitFacts
    ) -> tuple[list[str], set[int]]:
        """Whether a method with a priming twin can become an ``@asynq()`` method (its twin
        stays: callers prime it through objects the codemod cannot follow)."""
        method = name.split(".")[-1]
        reasons: list[str] = []
        if path in self.frozen:
            return [f"{name} is in a file this run does not rewrite."], set()
        if unit.is_async:
            reasons.append(f"{name} is an `async def`; asynq methods are generators.")
        if unit.has_yield:
            reasons.append(
                f"{name} already contains `yield` or `await`, so it cannot become an asynq "
                "generator automatically. Convert it by hand."
            )
        cls = name.split(".")[0]
        if [d.text for d in unit.decorators] == ["property"]:
            getter = f"get_{method}"
            if getter in self.modules[path].class_members.get(cls, []):
                reasons.append(
                    f"{name} is a property, and a property cannot yield; the codemod would "
                    f"give it an @asynq() method {getter} to delegate to, but {cls} already "
                    f"has a {getter}. Rename it, then rerun."
                )
            else:
                self.property_getters.add((path, name))
        for dec in unit.decorators:
            if dec.text == "property" and len(unit.decorators) == 1:
                continue
            if dec.text == "property" or dec.text.endswith(".setter"):
                reasons.append(
                    f"{name} is a property with other decorators, and a property cannot "
                    "yield. Convert it by hand."
                )
            elif dec.text not in ("classmethod", "staticmethod"):
                reasons.append(
                    f"{name} has the decorator @{dec.text}, which may not accept a generator "
                    "function. Remove or move the decorator, or convert it by hand."
                )
        reads: set[int] = set()
        for site in unit.sites:
            if site.kind == "dynamic":
                reasons.append(
                    f"{name} makes a dynamic call (such as getattr(...)()) that may read a "
                    "cached value the codemod cannot see. Call the function by name, then rerun."
                )
                continue
            if site.kind == "obj-read" and site.via_self and site.blocker is None:
                # ``self.m()``: a yield once m is converted (it stays a plain call otherwise)
                target = self.target_of(path, site)
                if target is not None and (target[1], target[2]) in self._prior_methods:
                    reads.add(site.ordinal)
                continue
            if site.kind != "call":
                continue
            target = self.target_of(path, site)
            if target is None or target[0] != "sym":
                continue
            callee = (target[1], target[2])
            shown = self.display(callee, path)
            if self.is_async_capable(callee):
                if site.blocker is not None:
                    reasons.append(f"{name} reads {shown} {blocker_sentence(site.blocker)}.")
                else:
                    reads.add(site.ordinal)
            elif callee in self.candidates:
                reasons.append(
                    f"{name} reads {shown}, which is not converted (see its own entry). "
                    f"Convert {callee[1]} first, then rerun."
                )
        if not reads and not reasons:
            reasons.append(
                f"{name} reads nothing cached that the codemod can see (reads through `self` "
                "or other objects are not followed), so there is nothing to batch. Convert it "
                "by hand if it is worth it."
            )
        return reasons, reads

    # -- which priming twins and aliases are still needed ------------------------------------
    def _removable_symbols(self) -> set[Symbol]:
        out: set[Symbol] = set(self.alias_of)
        for twin, owner in self.twin_of.items():
            if twin in self.effectful:
                if owner in self.converted:
                    self.kept[twin] = (
                        f"{twin[1]} is kept although {owner[1]} is converted: besides priming "
                        f"it runs `{self.effectful[twin]}`, which its callers may rely on. "
                        f"Move that effect where it belongs, then delete {twin[1]} by hand."
                    )
                continue
            if owner in self.converted or self.kinds.get(owner) in ("cached", "asynq"):
                out.add(twin)
        return out

    def _compute_liveness(self) -> None:
        removable = self._removable_symbols()
        self._removable = removable
        self._deletions: dict[tuple[str, int], set[int]] = {}
        live: set[Symbol] = set()
        work: list[Symbol] = []

        def keep(target: Target | None, why: str | None = None) -> None:
            if target is not None and target[0] == "sym":
                sym = (target[1], target[2])
                if sym in removable and sym not in live:
                    live.add(sym)
                    work.append(sym)
                    owner = self.twin_of.get(sym) or self.alias_of.get(sym)
                    if why is not None:
                        self.why_live[sym] = why.format(name=sym[1])
                        if owner is not None and owner in self.converted:
                            self.kept[sym] = self.why_live[sym]

        by_name: dict[str, list[Symbol]] = {}
        for sym in removable:
            by_name.setdefault(sym[1], []).append(sym)

        site_path = ""

        def keep_named(site: Site) -> None:
            for sym in by_name.get(site.ref[0], ()):
                keep(
                    ("sym", *sym),
                    "{name} is kept: its name appears in a string in "
                    + f"{site_path}, so it may be looked up at run time.",
                )

        for path, mod in self.modules.items():
            site_path = path
            for unit in mod.units:
                sym = (path, unit.name)
                top = unit.index >= 1 and mod.defs.get(unit.name) == unit.index
                if top and sym in removable and path not in self.frozen:
                    continue  # its references count only if the twin stays
                for site in unit.sites:
                    if site.kind == "string":
                        keep_named(site)
                if path in self.frozen:
                    for site in unit.sites:
                        keep(
                            self.target_of(path, site),
                            "{name} is kept: " + f"{path} is not rewritten by this run and uses it.",
                        )
                    continue
                if top and sym in removable:
                    continue  # its references count only if the twin stays
                converted = top and sym in self.converted
                kept_twin = top and sym in self.twin_of
                # ``prime_f = prime_g`` statements that may go: their references count only
                # if they stay (see the work loop below).
                removable_statements = {
                    index
                    for alias_name, index in mod.twin_alias_statements.items()
                    if unit.index == 0 and (path, alias_name) in removable
                }
                for site in unit.sites:
                    if site.statement in removable_statements:
                        continue
                    target = self.target_of(path, site)
                    owner = self.owner_of_prime(target)
                    if owner is None or self.is_method(owner):
                        continue  # method twins stay, and so do the calls of them
                    owner_kind = self.kinds.get(owner)
                    effectful = (
                        target is not None
                        and target[0] == "sym"
                        and (target[1], target[2]) in self.effectful
                    )
                    # Priming stays in code that stays legacy: deleting it would make each of
                    # the plain calls that follow its own round trip. Priming inside a
                    # converted function goes (its reads are yielded together instead),
                    # except a call of a twin that does more than prime.
                    if (
                        site.kind == "call"
                        and site.deletable
                        and not kept_twin
                        and not effectful
                        and (
                            converted
                            or (self.config.delete_cached_priming and owner_kind == "cached")
                        )
                    ):
                        self._deletions.setdefault((path, unit.index), set()).add(site.ordinal)
                    else:
                        where = unit.name if unit.index else "module-level code"
                        if converted:
                            why = f"{where} (in {path}) is converted but still calls it "
                            why += "for what it does besides priming."
                        else:
                            why = f"{where} (in {path}) is not converted and still calls "
                            why += "it, so the plain calls that follow keep batching. It "
                            why += "goes once its callers are converted."
                        keep(target, "{name} is kept: " + why)
        while work:
            sym = work.pop()
            site_path = sym[0]
            twin_unit = self.unit_of(sym)
            if twin_unit is None:
                continue
            for site in twin_unit.sites:
                if site.kind == "string":
                    keep_named(site)
                else:
                    keep(
                        self.target_of(sym[0], site),
                        "{name} is kept: " + f"{sym[1]} (in {sym[0]}) stays and calls it.",
                    )
        self.live = live

    # -- per-file plans ---------------------------------------------------------------------
    def plan(self, path: str) -> FilePlan:
        """What the rewrite must do in ``path`` (call :meth:`decide` first)."""
        mod = self.modules[path]
        out = FilePlan(path)
        for name, index in mod.defs.items():
            sym = (path, name)
            if sym in self.converted:
                reads: set[int] = set()
                for site in mod.units[index].sites:
                    target = self.target_of(path, site)
                    if (
                        self.site_kind(path, site) == "call"
                        and target is not None
                        and target[0] in ("sym", "method")
                        and self.is_async_capable((target[1], target[2]))
                    ):
                        reads.add(site.ordinal)
                out.converted[index] = reads
            elif sym in self._removable and sym not in self.live:
                out.delete_units.add(index)
            elif sym in self.twin_of:
                out.kept_units.add(index)
        for name in [*mod.aliases, *mod.twin_aliases]:
            if (path, name) in self._removable and (path, name) not in self.live:
                out.delete_aliases.add(name)
        for (dpath, unit_index), ordinals in self._deletions.items():
            if dpath == path and unit_index not in out.delete_units:
                out.deletions[unit_index] = set(ordinals)
        for local in mod.imports:
            target = self.resolve(path, (local,))
            if target is not None and target[0] == "sym":
                sym = (target[1], target[2])
                if sym in self._removable and sym not in self.live:
                    out.removable_imports.add(local)
            elif self.is_priming_binding(path, local):
                out.removable_imports.add(local)
        if (out.converted or out.converted_methods) and self.resolve(path, ("asynq",)) not in (
            ("ext", "asynq.asynq"),
            ("ext", "asynq.decorators.asynq"),
        ):
            out.add_asynq_import = True
            out.local_roots = self.local_roots
        for fn in sorted(self.candidates - self.converted):
            if fn[0] == path:
                out.refusals.extend(self.reasons.get(fn, []))
        for sym, why in sorted(self.kept.items()):
            if sym[0] == path and (sym in self.effectful or sym in self.live):
                out.kept.append(Refusal(path, sym[1], why))
        # Every other priming function that stays says why, so that nothing is left unexplained.
        prefix = self.config.prime_prefix
        reported = {k.function for k in out.kept}
        for name, index in sorted(mod.defs.items()):
            sym = (path, name)
            owner = self.twin_of.get(sym)
            if (
                not name.startswith(prefix)
                or name in reported
                or index in out.delete_units
                or (owner is not None and owner in self.candidates and owner not in self.converted)
            ):
                continue
            if sym in self.why_live:
                why = self.why_live[sym]
            elif owner is not None and self.kinds.get(owner) in ("cached", "asynq"):
                why = (
                    f"{name} is kept: it primes {owner[1]}, which needs no conversion, and "
                    "legacy code still calls it."
                )
            elif sym in self.effectful:
                why = (
                    f"{name} is kept: besides priming it runs `{self.effectful[sym]}`, which "
                    "its callers may rely on."
                )
            else:
                why = (
                    f"{name} is kept: it is a priming function with no function "
                    f"{name[len(prefix):]} to convert, so the legacy code that calls it stays "
                    "as it is."
                )
            out.kept.append(Refusal(path, name, why))
        for name, ref in sorted(mod.twin_aliases.items()):
            function = name[len(prefix) :]
            owner = self.twin_of.get((path, name))
            if (
                name in out.delete_aliases
                or name in reported
                or (owner is not None and owner in self.candidates)
            ):
                continue  # deleted, already explained, or its function is in the report
            out.kept.append(
                Refusal(
                    path,
                    name,
                    f"{name} is kept: it is another name for the priming function "
                    f"{'.'.join(ref)}, which the codemod does not pair with {function}"
                    + (
                        f", so {function} is not converted. Write {name} as a function "
                        "that primes what it reads, then rerun."
                        if function in mod.defs
                        else "."
                    ),
                )
            )
        for cls, method in mod.lone_prime_methods:
            out.kept.append(
                Refusal(
                    path,
                    f"{cls}.{method}",
                    f"{cls}.{method} is kept: it is a priming method with no method "
                    f"{method[len(prefix):]} to convert; methods stay as they are.",
                    method=(cls, method),
                )
            )
        for cls, method in mod.primed_methods:
            key = (path, f"{cls}.{method}")
            twin = f"{cls}.{prefix}{method}"
            if key in self.converted_methods:
                out.converted_methods[(cls, method)] = self.converted_methods[key]
                if key in self.property_getters:
                    out.properties.add((cls, method))
                out.kept.append(
                    Refusal(
                        path,
                        twin,
                        f"{twin} is kept although {cls}.{method} is converted: callers prime "
                        "through objects, which the codemod does not follow, so it cannot tell "
                        "whether anything still calls it. Delete it once nothing does.",
                        method=(cls, prefix + method),
                    )
                )
                continue
            reasons = self.method_reasons.get(
                key, [f"{cls}.{method} is a method the codemod could not analyse."]
            )
            for reason in reasons:
                out.refusals.append(
                    Refusal(path, f"{cls}.{method}", reason, method=(cls, method))
                )
        if out.converted_methods and self.resolve(path, ("asynq",)) not in (
            ("ext", "asynq.asynq"),
            ("ext", "asynq.decorators.asynq"),
        ):
            out.add_asynq_import = True
            out.local_roots = self.local_roots
        return out


_ASYNQ_DECORATORS = frozenset({"asynq.asynq", "asynq.decorators.asynq"})

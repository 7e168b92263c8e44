"""CST helpers shared by the analysis and the rewrite: names, walks, calls."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence

import libcst as cst

Ref = tuple[str, ...]

#: Builtins that consume a generator expression completely, so turning it into a list
#: (fetched in one batch) gives the same value.
CONSUMERS = frozenset(
    {"list", "tuple", "set", "frozenset", "sorted", "sum", "min", "max", "any", "all"}
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


class LocalNames(cst.CSTVisitor):
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
    visitor = LocalNames()
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


@dataclasses.dataclass(frozen=True)
class ImportBinding:
    """What a module-level import binds a local name to."""

    module: str  # dotted module as written ("" for ``from . import x``)
    name: str | None  # imported attribute; None for ``import module``
    level: int = 0  # number of leading dots of a relative import


def alias_binding(alias: cst.ImportAlias) -> str | None:
    """The local name an imported alias binds (``import a.b`` binds ``a``)."""
    if alias.asname is not None:
        names = target_names(alias.asname.name)
        return next(iter(names)) if names else None
    ref = dotted_name(alias.name)
    return ref[0] if ref else None


def import_bindings(node: cst.Import | cst.ImportFrom) -> dict[str, ImportBinding]:
    """The names an import statement binds, and what each one refers to."""
    out: dict[str, ImportBinding] = {}
    if isinstance(node, cst.Import):
        for alias in node.names:
            ref = dotted_name(alias.name)
            local = alias_binding(alias)
            if ref is None or local is None:
                continue
            out[local] = ImportBinding(".".join(ref) if alias.asname else ref[0], None)
    elif not isinstance(node.names, cst.ImportStar):
        module = dotted_name(node.module) if node.module is not None else ()
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            local = alias_binding(alias) or alias.name.value
            out[local] = ImportBinding(".".join(module or ()), alias.name.value, len(node.relative))
    return out


class NameRenamer(cst.CSTTransformer):
    """Replaces every variable ``Name`` in ``names`` (old -> new) by its new name; attribute
    names (``obj.name``) and keywords (``name=``) stay as they are."""

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__()
        self.names = names

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        new = self.names.get(updated_node.value)
        return updated_node if new is None else updated_node.with_changes(value=new)

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute:
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)

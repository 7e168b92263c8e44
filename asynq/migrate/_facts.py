"""Facts about one module, computed in a worker process and pickled to the parent."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import libcst as cst

from ._config import MigrateConfig
from ._cst import (
    ImportBinding,
    LocalNames,
    Ref,
    child_nodes,
    dotted_name,
    import_bindings,
    local_names,
    param_names,
    target_names,
)
from ._reads import Site, analyze_method, analyze_units, class_methods, top_level_units
from ._share import StatementFacts, local_containers, statement_facts
from ._twin_facts import (
    Where,
    held_call,
    member_sites,
    prime_name_uses,
    signature,
    twin_hints,
)


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
    #: how many times the unit itself yields (a ``@priming.generator`` twin: its stages - 1)
    yields: int = 0
    decorators: list[DecoratorFacts] = dataclasses.field(default_factory=list)
    #: for a priming twin: its first statement that does more than prime (as code)
    side_effect: str | None = None
    #: the priming function called first thing with the function's own arguments, and
    #: (priming name, next call) pairs with the same arguments (see ``_twin_facts``)
    opening_prime: Ref | None = None
    prime_follows: list[tuple[Ref, Ref]] = dataclasses.field(default_factory=list)
    #: for a priming function: its first call of a function held in a variable (as code)
    held_call: str | None = None
    #: the parameters of a top-level function (see ``_twin_facts.signature``)
    signature: tuple[str, ...] = ()
    #: for a function or method: what each statement of its body assigns, uses and calls
    #: (how its reads may share rounds, see ``_share``)
    statements: list[StatementFacts] = dataclasses.field(default_factory=list)
    #: the code of a function or method with a ``while`` loop or that calls itself: the
    #: whole-program analysis counts the rounds of the walk (see ``_walks``)
    source: str | None = None


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
    #: ``prime_link = prime`` in a class body: the priming method ("User.prime") -> the
    #: one method it is the twin of ("User.link"), when its own name names no method
    method_twin_aliases: dict[str, str] = dataclasses.field(default_factory=dict)
    #: properties without a twin ("Class.name"), analysed like methods: converted as
    #: helpers when converted code reads them
    plain_properties: dict[str, UnitFacts] = dataclasses.field(default_factory=dict)
    #: where each name with the priming prefix is used (see ``_twin_facts.prime_name_uses``)
    prime_name_uses: dict[str, set[Where]] = dataclasses.field(default_factory=dict)
    #: module-unit site ordinal -> the priming member of a class it sits in ("Class.prime_m")
    member_sites: dict[int, str] = dataclasses.field(default_factory=dict)


def _class_twin_aliases(cls: cst.ClassDef, prefix: str) -> dict[str, str]:
    """``prime_m = prime_other`` (or ``= prime``) in a class body, where ``m`` and the
    right-hand side are methods of the class and no ``def prime_m`` exists: method -> the
    priming method that is its twin."""
    assert isinstance(cls.body, cst.IndentedBlock)
    methods = {s.name.value for s in cls.body.body if isinstance(s, cst.FunctionDef)}
    out: dict[str, str] = {}
    for stmt in cls.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        small = stmt.body[0]
        if not (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and isinstance(small.value, cst.Name)
        ):
            continue
        name, value = small.targets[0].target.value, small.value.value
        if not name.startswith(prefix) or name in methods or value not in methods:
            continue
        method = name[len(prefix) :]
        if method in methods and (value == "prime" or value.startswith(prefix)):
            out[method] = value
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
        visitor = LocalNames()
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


def _prime_assign(stmt: cst.BaseStatement, prefix: str) -> tuple[str, cst.BaseExpression] | None:
    """``prime_x = <value>`` alone on its line -> ("prime_x", value); None otherwise."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value.startswith(prefix)
    ):
        return small.targets[0].target.value, small.value
    return None


def alias_target(stmt: cst.BaseStatement, prefix: str) -> tuple[str, Ref] | None:
    """``prime_f = f.prime`` -> ("prime_f", ("f",)); None for any other statement."""
    found = _prime_assign(stmt, prefix)
    if found is None:
        return None
    name, value = found
    if isinstance(value, cst.Attribute) and value.attr.value == "prime":
        ref = dotted_name(value.value)
        if ref is not None:
            return name, ref
    return None


def twin_alias_target(stmt: cst.BaseStatement, prefix: str) -> tuple[str, Ref] | None:
    """``prime_f = prime_g`` (or ``= module.prime_g``) -> ("prime_f", ref of prime_g)."""
    found = _prime_assign(stmt, prefix)
    if found is None:
        return None
    name, value = found
    ref = dotted_name(value)
    if ref is not None and ref[-1].startswith(prefix):
        return name, ref
    return None


def walk_source(fn: cst.FunctionDef, walks: bool) -> str | None:
    """The code of ``fn`` when it walks (see ``UnitFacts.source``), else None."""
    return cst.Module(body=[fn]).code if walks else None


def _decorator_facts(dec: cst.Decorator, config: MigrateConfig) -> DecoratorFacts:
    expr = dec.decorator
    called = isinstance(expr, cst.Call)
    if isinstance(expr, cst.Call):
        expr = expr.func
    ref = dotted_name(expr)
    cached = ref is not None and ref[-1] == config.cached_decorator
    text = cst.Module(body=[]).code_for_node(dec.decorator)
    return DecoratorFacts(ref, called, text, cached)


def body_statement_facts(fn: cst.FunctionDef, sites: list[Site]) -> list[StatementFacts]:
    """The :class:`StatementFacts` of each statement of a function's body, when it reads in
    stages (only then does the decision count its rounds)."""
    if not isinstance(fn.body, cst.IndentedBlock) or not any(s.after or s.stage for s in sites):
        return []
    containers = local_containers(list(fn.body.body))
    return [statement_facts(stmt, containers) for stmt in fn.body.body]


def collect_module_facts(path: str, module: cst.Module, config: MigrateConfig) -> ModuleFacts:
    """Learn what one parsed module defines, imports, primes and reads."""
    analyzers = analyze_units(module, config, keep_nodes=True)
    others_stmts, functions = top_level_units(module)
    module_unit = analyzers[0]
    assert module_unit is not None
    in_members = member_sites(others_stmts, module_unit.sites, config.prime_prefix)
    for analyzer in analyzers:
        for site in analyzer.sites if analyzer is not None else ():
            site.node = None  # nodes are not sent to the parent
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
                yields=analyzer.yields,
                decorators=[_decorator_facts(d, config) for d in fn.decorators],
                side_effect=(
                    twin_side_effect(fn, config.prime_prefix)
                    if fn.name.value.startswith(config.prime_prefix)
                    else None
                ),
                statements=body_statement_facts(fn, analyzer.sites),
                source=walk_source(fn, analyzer.walks),
            )
        )
        defs[fn.name.value] = index
        units[-1].opening_prime, units[-1].prime_follows = twin_hints(fn, config.prime_prefix)
        if fn.name.value.startswith(config.prime_prefix):
            units[-1].held_call = held_call(fn)
        units[-1].signature = signature(fn.params)
    imports: dict[str, ImportBinding] = {}
    stars: list[ImportBinding] = []
    _collect_imports(list(module.body), imports, stars)
    aliases: dict[str, Ref] = {}
    others: set[str] = set()
    primed_methods: list[tuple[str, str]] = []
    lone_prime_methods: list[tuple[str, str]] = []
    twin_aliases: dict[str, Ref] = {}
    twin_alias_statements: dict[str, int] = {}
    class_twins: dict[str, dict[str, str]] = {}  # class -> method -> its twin's name
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
            twin_alias = _class_twin_aliases(stmt, config.prime_prefix)
            class_twins[stmt.name.value] = twin_alias
            for name in sorted(methods):
                if config.prime_prefix + name in methods or name in twin_alias:
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
    method_twin_aliases: dict[str, str] = {}
    for cls, twins in class_twins.items():
        methods_of = set(twins)
        for method, twin in twins.items():
            prefix = config.prime_prefix
            by_name = twin.startswith(prefix) and (cls, twin[len(prefix) :]) in primed_methods
            if by_name or twin in methods_of:
                continue
            if sum(1 for other in twins.values() if other == twin) == 1:
                method_twin_aliases[f"{cls}.{twin}"] = f"{cls}.{method}"
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
    found = class_methods(module)
    primed = set(primed_methods)
    plain_properties: dict[str, UnitFacts] = {}
    for (cls, name), fn in found.items():
        if (cls, name) in primed or name.startswith(config.prime_prefix):
            continue
        if not (
            len(fn.decorators) == 1
            and isinstance(fn.decorators[0].decorator, cst.Name)
            and fn.decorators[0].decorator.value == "property"
        ):
            continue
        analyzer = analyze_method(fn, config, self_class=cls)
        if analyzer.sites:
            plain_properties[f"{cls}.{name}"] = UnitFacts(
                -1,
                f"{cls}.{name}",
                analyzer.sites,
                is_async=fn.asynchronous is not None,
                has_yield=analyzer.has_yield,
                yields=analyzer.yields,
                decorators=[_decorator_facts(d, config) for d in fn.decorators],
            )
    if primed_methods:
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
                yields=analyzer.yields,
                decorators=[_decorator_facts(d, config) for d in fn.decorators],
                statements=body_statement_facts(fn, analyzer.sites),
                source=walk_source(fn, analyzer.walks),
            )
            twin_name = class_twins.get(cls, {}).get(name, config.prime_prefix + name)
            twin_fn = found.get((cls, twin_name))
            if twin_fn is not None:
                twin_analyzer = analyze_method(twin_fn, config, self_class=cls)
                method_twins[f"{cls}.{name}"] = UnitFacts(
                    -1,
                    f"{cls}.{twin_name}",
                    twin_analyzer.sites,
                    side_effect=twin_side_effect(twin_fn, config.prime_prefix),
                    # (a method twin's yields are counted on its code, see _walks)
                    source=walk_source(twin_fn, twin_analyzer.walks or twin_analyzer.has_yield),
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
        method_twin_aliases,
        plain_properties,
        prime_name_uses(module, config.prime_prefix),
        in_members,
    )

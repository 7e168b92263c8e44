"""What a function reads and primes: the walk over its call sites.

Both passes must agree exactly on which call sites exist and in which context they sit,
so the walk that finds them lives here and is run by both: the analysis runs it to learn
facts, the rewrite runs it again on the same source to find the nodes those facts name.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

import libcst as cst

from ._config import MigrateConfig
from ._cst import (
    ImportBinding,
    Ref,
    child_nodes,
    comp_target_names,
    consumed_genexp,
    dotted_name,
    has_call,
    import_bindings,
    is_broad_handler,
    is_dynamic_call,
    param_names,
    target_names,
)
from ._hoist import (
    call_depth,
    expression_depth,
    loop_plan,
    match_collect_loop,
    run_once_statements,
    search_plan,
    sort_key_reads,
    stage_comprehension,
    two_phase_calls,
)

#: Why a read at some place cannot be turned into a yield. The analysis turns these codes
#: into sentences (see ``_decide.blocker_sentence``).
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
    "search",
)


@dataclasses.dataclass
class Site:
    """One place in a unit of code that calls or mentions a name the migration cares about.

    ``kind`` is ``"call"`` (``ref(...)``), ``"ref"`` (a priming name used as a value),
    ``"dynamic"`` (a call whose target cannot be known), ``"local-prime"``
    (``obj.prime_m()``), ``"obj-read"`` (``obj.m()`` on an object whose class is known) or
    ``"prop-read"`` (``obj.p`` on such an object, ``self`` included: a read once ``p`` is a
    converted property). For the last three, ``cls`` is the dotted name of the object's
    class when the function builds the object itself (``book = Book(x)`` assigned once, or
    ``Book(x).m()``), else None. ``blocker`` says why a read there
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
    #: a read in a ``for`` loop that is read for every item before the loop in a later
    #: stage: the ordinals of the calls whose values it needs (its arguments use them, or
    #: a guard ``if ...: continue`` before it does). It can be read ahead only if every one
    #: of them is a read too (checked by the whole-program analysis).
    after: tuple[int, ...] = ()
    #: in a function: the index of the statement of its body the site is in
    top: int = 0
    #: a read of a comprehension read in stages: how many stages that takes (0: none)
    stage: int = 0
    #: in the body of a ``while`` loop, and blocked only by that (``blocker`` is ``"while"``):
    #: the whole-program analysis lifts the blocker when the converted walk reads no more
    #: rounds than its twin primes in (see ``_walks``)
    walk: bool = False
    #: a call whose function is a dotted name and whose arguments call nothing: the rewrite
    #: may read it together with the other reads of its statement
    early: bool = True
    #: a priming call, or a read of a search loop (see ``eager``), inside a ``for`` loop: the
    #: loop's target, what it iterates (the dotted name called or named), the call's
    #: arguments (as code), and whether the loop runs the call in every iteration (no ``if``
    #: around it inside the loop)
    loop: tuple[str, Ref | None, str, bool] | None = None
    #: a read of a loop that may stop early, read for every item before the loop only if
    #: the twin primes the same call for every item (checked by the whole-program analysis)
    eager: bool = False
    #: rounds its statement spends on other calls before this read can be made: those in its
    #: arguments (``g(f(x))``), in the iterable of its loop or comprehension (counted by the
    #: analysis of rounds, see ``_check_stage_rounds``)
    wait: int = 0


_Pending = tuple[
    str, Ref, "str | None", bool, "cst.CSTNode | None", tuple[int, ...], int, "Ref | None", int, int
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
        self.config = config
        self.prefix = config.prime_prefix
        self.fn = fn
        self.keep_nodes = keep_nodes
        self.sites: list[Site] = []
        self.has_yield = False
        self.yields = 0  # yields of the unit itself (the stages of a generator twin)
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
        self._call_funcs: set[int] = set()  # the ``func`` of every call
        self._stores: set[int] = set()  # attributes assigned to (``self.x = ...``)
        #: ``book = Book(x)`` at the top of the body: candidates for a known class
        self._constructed = constructed_names(fn) if fn is not None else {}
        self._params = param_names(fn.params) if fn is not None else set()
        self._bindings: Counter[str] = Counter()
        #: reads of a staged loop -> the calls they need (see ``Site.after``), by ``id``
        self._after: dict[int, list[int]] = {}
        #: the statements of a function's body, by ``id``: which one a site is in
        self._tops: dict[int, int] = (
            {id(stmt): i for i, stmt in enumerate(fn.body.body)}
            if fn is not None and isinstance(fn.body, cst.IndentedBlock)
            else {}
        )
        self._top = 0
        #: tests of ``if``/``elif`` and iterables of ``for`` (by ``id``), and how many of
        #: them the walk is in: no lines can go before them, so comprehensions and sort keys
        #: there are not read for every item first
        self._tests: set[int] = set()
        self._in_test = 0
        #: reads of a comprehension read in stages -> how many stages it takes
        self._comp_stages: dict[int, int] = {}
        #: bodies of ``while`` loops (by ``id``), how many the walk is in, and the sites
        #: found in one (by ``id``): see ``Site.walk``
        self._walk_bodies: set[int] = set()
        self._in_walk = 0
        self._walk_keys: set[int] = set()
        self._late: set[int] = set()  # calls that are not ``Site.early``
        #: whether the unit has a ``while`` loop or calls itself by name (a walk: its source
        #: goes to the whole-program analysis, which counts its rounds, see ``_walks``)
        self.walks = False
        #: the ``for`` loops the walk is in: [target, what it iterates, ifs entered inside]
        self._loops: list[list[Any]] = []
        #: calls inside loops -> see ``Site.loop``
        self._loop_of: dict[int, tuple[str, Ref | None, str, bool]] = {}
        #: reads of search loops made ahead when the twin primes them (see ``Site.eager``)
        self._eager: set[int] = set()
        #: calls -> rounds spent before them in their statement (see ``Site.wait``)
        self._wait: dict[int, int] = {}

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
        if self._in_walk:
            self._walk_keys.add(id(node))
        if isinstance(node, cst.Call) and (
            dotted_name(node.func) is None or any(has_call(arg.value) for arg in node.args)
        ):
            self._late.add(id(node))
        if kind == "call" and self.fn is not None and ref == (self.fn.name.value,):
            self.walks = True  # it calls itself
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
                id(node),
                self._top,
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
        ordinals: dict[int, int] = {}
        for kind, ref, blocker, deletable, node, scopes, statement, cls, key, top in self._raw:
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
                if kind in ("call", "prop-read") and cls is None and len(ref) == 2 and ref[0] == me:
                    cls, via_self = (self._self_class,), True
                elif kind == "local-prime" and cls == (me,) and self._self_is_class:
                    cls, via_self = (self._self_class,), True
            if kind == "prop-read" and cls is None and not via_self:
                cls = self._constructed.get(ref[0])
            if (
                cls is not None
                and (kind == "call" or (kind == "prop-read" and ref[0].isidentifier()))
                and not via_self
            ):
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
            if kind in ("obj-read", "prop-read") and cls is None:
                continue
            if kind == "prop-read":
                pass  # the receiver is local by nature; its class was checked above
            elif kind != "string" and ref and any(ref[0] in local[i] for i in scopes):
                if kind != "call" or len(ref) < 2:
                    continue
                if not self._maybe_prime(ref):
                    if cls is None:
                        continue
                    kind = "obj-read"  # ``book.m()`` on an object of a known class
                else:
                    # ``obj.prime_m()`` on a local object: followed only if its class is known.
                    kind = "local-prime"
            if kind == "call" and key in self._after:
                after = [ordinals.get(dep) for dep in self._after[key]]
                if any(ordinal is None for ordinal in after):
                    blocker = blocker or "for"  # it needs a value the analysis cannot name
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
                    cls if kind in ("local-prime", "obj-read", "prop-read") else None,
                    via_self and kind in ("local-prime", "obj-read", "prop-read"),
                )
            )
            ordinals[key] = len(self.sites) - 1
            self.sites[-1].top = top
            self.sites[-1].early = key not in self._late
            if key in self._walk_keys and blocker is None:
                self.sites[-1].blocker = "while"
                self.sites[-1].walk = kind in ("call", "prop-read", "obj-read")
            self.sites[-1].loop = self._loop_of.get(key)
            self.sites[-1].eager = key in self._eager and blocker is None
            self.sites[-1].wait = self._wait.get(key, 0)
            if key in self._comp_stages and blocker is None:
                self.sites[-1].stage = self._comp_stages[key]
            if kind == "call" and key in self._after and blocker is None:
                self.sites[-1].after = tuple(ordinals[dep] for dep in self._after[key])
        self._raw = []
        return self

    # -- generic hooks -------------------------------------------------------------------
    def on_visit(self, node: cst.CSTNode) -> bool:
        key = id(node)
        if key in self._tests:
            self._in_test += 1
        if key in self._skip:
            return False
        top = self._tops.get(key)
        if top is not None:
            self._top = top
        if key in self._walk_bodies:
            self._in_walk += 1
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
        if id(original_node) in self._tests:
            self._in_test -= 1
        if id(original_node) in self._walk_bodies:
            self._in_walk -= 1
        if isinstance(original_node, cst.For) and self._loops:
            self._loops.pop()
        elif isinstance(original_node, (cst.If, cst.While, cst.Try)) and self._loops:
            self._loops[-1][2] -= 1
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
        self._call_funcs.add(id(node.func))
        genexp = consumed_genexp(node)
        if genexp is not None:
            self._consumed.add(id(genexp))
        if self._blockers[-1] is None and not self._in_test:
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
        self._wait[id(node)] = self._wait.get(id(node), 0) + call_depth(node) - 1
        if self._loops and (self._maybe_prime(ref) or id(node) in self._eager):
            # what a search loop reads ahead, and what a twin primes (see Site.loop)
            target, items, ifs = self._loops[-1]
            code = cst.Module(body=[]).code_for_node(node.with_changes(func=cst.Name("_")))
            args = " ".join(code.split())
            self._loop_of[id(node)] = (target, items, args, ifs == 0)
        self._add("call", ref, node, deletable, cls)

    def _on_name(self, node: cst.Name) -> None:
        if node.value.startswith(self.prefix):
            self._add("ref", (node.value,), node)

    def _on_string(self, node: cst.SimpleString) -> None:
        # getattr(module, "prime_f") keeps prime_f alive (see Program.compute_liveness).
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
        if id(node) in self._call_funcs or id(node) in self._stores:
            return True
        attr = node.attr.value
        if self._maybe_prime((attr,)):
            return True
        value = node.value
        if isinstance(value, cst.Name):
            # ``self.p`` or ``book.p`` (``book = Book(x)``): a property read once ``p`` is a
            # converted property (the whole-program analysis decides).
            if value.value == self._self_name or value.value in self._constructed:
                self._add("prop-read", (value.value, attr), node, cls=None)
        elif isinstance(value, cst.Call):
            built = dotted_name(value.func)
            if built is not None:
                text = cst.Module(body=[]).code_for_node(value)
                self._add("prop-read", (" ".join(text.split()), attr), node, cls=built)
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
            elif isinstance(target, cst.Attribute):
                self._stores.add(id(target))
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
            self._pending.setdefault(id(elt), cur)  # a loop may have read it (loop_plan)
            for arg in elt.args:
                self._pending[id(arg)] = cur or "comprehension"
        if cur is None and not unconsumed and not self._in_test:
            # Read for every item first, in one batch (see two_phase_calls).
            calls = two_phase_calls(node)
            for call in calls:
                self._pending[id(call)] = None
                for arg in call.args:
                    self._pending[id(arg)] = "comprehension"
            if not self._stage_comprehension(node):
                # The reads of the element and conditions wait for those of the iterable.
                before = expression_depth(node.for_in.iter)
                if before:
                    inside = [*calls, *([elt] if isinstance(elt, cst.Call) else [])]
                    for call in inside:
                        self._wait[id(call)] = self._wait.get(id(call), 0) + before
        self._scope(comp_target_names(node), nested=False)

    def _stage_comprehension(
        self, node: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp
    ) -> bool:
        """A comprehension with two ``for`` clauses is read in stages, as the lines
        ``stage_comprehension`` makes of it: its reads are where they are in those lines,
        so they are blocked, or not, as there (the rewrite makes the same lines)."""
        counter = iter(range(1_000_000))
        staged = stage_comprehension(node, lambda base: f"_staged_{base}_{next(counter)}")
        if staged is None:
            return False
        sub = UnitAnalyzer(self.config, self.fn, False, self._self_class)
        final: cst.BaseExpression = staged.final
        if isinstance(final, cst.GeneratorExp):  # consumed where it is, as the original was
            final = cst.Call(func=cst.Name("list"), args=[cst.Arg(final)])
        holder = cst.SimpleStatementLine(
            body=[cst.Assign(targets=[cst.AssignTarget(cst.Name("_staged"))], value=final)]
        )
        for line in [*staged.lines, holder]:
            sub.walk(line)
        for kind, _ref, blocker, *_rest, key, _top in sub._raw:
            key = staged.renamed.get(key, key)  # a read whose argument is read first
            self._pending[key] = blocker
            if kind == "call" and blocker is None and staged.stages > 1:
                self._comp_stages[key] = staged.stages
        return True

    def _on_if(self, node: cst.If) -> None:
        self._tests.add(id(node.test))
        if self._loops:
            self._loops[-1][2] += 1

    def _on_while_or_try(self, node: cst.While | cst.Try) -> None:
        if self._loops:
            self._loops[-1][2] += 1
        if isinstance(node, cst.While):
            self._on_while(node)
        else:
            self._on_try(node)

    def _on_for(self, node: cst.For) -> None:
        self._tests.add(id(node.iter))
        items = node.iter.func if isinstance(node.iter, cst.Call) else node.iter
        target = " ".join(cst.Module(body=[]).code_for_node(node.target).split())
        self._loops.append([target, dotted_name(items), 0])
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
            # Statements right before a ``return`` run at most once: reads there are yields
            # where they are (see run_once_statements).
            for stmt in run_once_statements(node):
                self._pending[id(stmt)] = None
            # Read for every item first, one batch per read, stage after stage (see
            # loop_plan).
            plan = loop_plan(node)
            if not plan.reads:
                # A loop that may stop early: its reads of the item are read for every item
                # first when the twin primes them for every item (see Site.eager).
                plan = search_plan(node)
                self._eager |= {id(read.call) for read in plan.reads}
            before = expression_depth(node.iter)  # the reads wait for the iterable's
            for read in plan.reads:
                call = read.call
                self._wait[id(call)] = self._wait.get(id(call), 0) + before
                self._pending[id(call)] = None
                if read.after:
                    self._after[id(call)] = [id(dep) for dep in read.after]
                for arg in call.args:
                    self._pending[id(arg)] = "comprehension"

    def _block(self, blocker: str) -> None:
        self._push(self._blockers[-1] or blocker)

    def _on_while(self, node: cst.While) -> None:
        # The test and the ``else`` stay blocked; the body is analysed as straight code and
        # its sites marked (``Site.walk``), blocked unless the walk is converted whole.
        cur = self._blockers[-1]
        self._block("while")
        self.walks = True
        if self.fn is not None:
            self._pending[id(node.body)] = cur
            self._walk_bodies.add(id(node.body))

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
            self.yields += 1


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
    cst.If: UnitAnalyzer._on_if,
    cst.While: UnitAnalyzer._on_while_or_try,
    cst.With: UnitAnalyzer._on_with,
    cst.Match: UnitAnalyzer._on_match,
    cst.TryStar: UnitAnalyzer._on_trystar,
    cst.Try: UnitAnalyzer._on_while_or_try,
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

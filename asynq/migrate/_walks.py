"""Walks: functions that call themselves (a tree walked by recursion) and ``while`` loops
that read one step at a time (a chain walked by following links).

Their rounds depend on the values read, so the conversion of a walk is held to its twin
by counting, on code, when each round starts:

* a recursion starts the next level after some rounds: in the converted function, the
  yields made before the yield that holds its calls on itself (all the children of a level
  are yielded together, so the scheduler runs them as sibling tasks and one round fetches
  a whole level); in the twin, the yields made before it primes itself again;
* a ``while`` walk costs some rounds per iteration: in the converted function, the yields
  in the loop; in the twin (a ``@priming.generator``), the yields in its loop.

The converted side is counted on the converted code itself (:func:`trial_shape` runs the
rewrite on the function's source), so that reads the rewrite merges into one yield count
once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import libcst as cst

from ._config import MigrateConfig
from ._convert import FunctionConverter, with_property_calls
from ._reads import Site, analyze_method


@dataclasses.dataclass
class WalkShape:
    """When the rounds of one function start, counted in yields (see the module's text)."""

    #: yields in the function (each loop body counted once)
    yields: int = 0
    #: yields made before the first call on itself (None: it does not call itself)
    to_self: int | None = None
    #: yields that hold a call on itself
    self_yields: int = 0
    #: ``while`` loops that yield: (yields before the loop, yields in one iteration)
    loops: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    #: a yield in a ``while`` loop inside another loop, or in the body of a ``for`` loop
    nested: bool = False

    @property
    def loop(self) -> tuple[int, int, int] | None:
        """(before, per iteration, after) of its one ``while`` loop that yields, if it has
        exactly one and nothing nested."""
        if len(self.loops) != 1 or self.nested:
            return None
        before, each = self.loops[0]
        return before, each, self.yields - before - each

    def shifted(self, offset: int) -> WalkShape:
        """The same shape, for a function called after ``offset`` yields of another."""
        return WalkShape(
            self.yields + offset,
            None if self.to_self is None else self.to_self + offset,
            self.self_yields,
            [(before + offset, each) for before, each in self.loops],
            self.nested,
        )


def _calls_self(call: cst.Call, names: set[str]) -> bool:
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "asynq":
        func = func.value
    return isinstance(func, cst.Name) and func.value in names


def shape(fn: cst.FunctionDef, names: set[str]) -> WalkShape:
    """Count the yields of ``fn`` (see :class:`WalkShape`); ``names`` are the names it calls
    itself by."""
    out = WalkShape()
    yields_holding_self: set[int] = set()
    loops: list[int] = []  # yields counted when each enclosing ``while`` started
    in_for = 0
    open_yields: list[cst.Yield] = []

    def visit(node: cst.CSTNode) -> None:
        nonlocal in_for
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and node is not fn:
            return
        if isinstance(node, cst.Call) and _calls_self(node, names):
            if out.to_self is None:
                out.to_self = out.yields
            if open_yields:
                yields_holding_self.add(id(open_yields[0]))
        if isinstance(node, cst.While):
            loops.append(out.yields)
            for child in node.children:
                visit(child)
            start = loops.pop()
            if out.yields > start:
                if loops or in_for:
                    out.nested = True
                else:
                    out.loops.append((start, out.yields - start))
            return
        if isinstance(node, cst.For):
            visit(node.iter)
            in_for += 1
            visit(node.body)
            in_for -= 1
            if node.orelse is not None:
                visit(node.orelse)
            return
        if isinstance(node, cst.Yield):
            open_yields.append(node)
            for child in node.children:
                visit(child)
            open_yields.pop()
            out.yields += 1
            if in_for:
                out.nested = True
            return
        for child in node.children:
            visit(child)

    visit(fn)
    out.self_yields = len(yields_holding_self)
    return out


def parse_function(source: str) -> cst.FunctionDef | None:
    """The one function in ``source`` (``UnitFacts.source``), or None."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return None
    if len(module.body) != 1 or not isinstance(module.body[0], cst.FunctionDef):
        return None
    return module.body[0]


def trial_shape(
    source: str,
    sites: list[Site],
    is_read: Callable[[Site], bool],
    config: MigrateConfig,
    cls: str | None = None,
) -> WalkShape | None:
    """The shape of the function in ``source`` once converted, with the sites (of the
    analysis, by ordinal) for which ``is_read`` holds read as yields; None when the code
    does not match the analysis or the trial fails (the walk is then refused: one odd
    function must not stop the whole run)."""
    fn = parse_function(source)
    if fn is None:
        return None
    analyzer = analyze_method(fn, config, keep_nodes=True, self_class=cls)
    if len(analyzer.sites) != len(sites):
        return None
    nodes = [
        found.node
        for found, site in zip(analyzer.sites, sites, strict=True)
        if found.node is not None and is_read(site)
    ]
    try:
        new_fn, read_ids, _ = with_property_calls(fn, nodes, set())
        converter = FunctionConverter(new_fn, read_ids, set(), config.line_length)
        converter.depth = 1 if cls is not None else 0
        converted = converter.convert()
    except Exception:  # noqa: BLE001 - a walk the trial cannot convert is left as it is
        return None
    return shape(converted, set() if cls is not None else {fn.name.value})

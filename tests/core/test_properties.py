"""Random dependency graphs: asynq computes what plain calls compute, in as many rounds as the
graph is deep, whatever order the scheduler picks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import asynq
from asynq import get_scheduler
from core.helpers import KeyKind


@dataclass(frozen=True)
class Node:
    """A model function: waits on ``deps`` in one yield, then maybe fetches one key."""

    deps: tuple[int, ...]
    fetch: str | None  # name of the batch kind it reads from after its deps, or None
    fails: bool = False


@st.composite
def graphs(draw: Any, kinds: tuple[str, ...] = ("a",), allow_errors: bool = False) -> list[Node]:
    size = draw(st.integers(min_value=1, max_value=14))
    nodes = []
    for index in range(size):
        deps = draw(st.lists(st.integers(0, index - 1), max_size=4)) if index else []
        fetch = draw(st.sampled_from((None, *kinds)))
        fails = draw(st.booleans()) if allow_errors else False
        nodes.append(Node(tuple(deps), fetch, fails and draw(st.integers(0, 4)) == 0))
    return nodes


class Failure(Exception):
    pass


def fetched_value(index: int, dep_total: int) -> int:
    return index * 1000 + dep_total % 997


def plain_evaluate(graph: list[Node]) -> list[Any]:
    """The reference: evaluate every node with plain recursion, no asynq."""
    memo: dict[int, Any] = {}

    def value(index: int) -> Any:
        if index not in memo:
            node = graph[index]
            results = [value(dep) for dep in node.deps]
            errors = [r for r in results if isinstance(r, Failure)]
            if errors:
                memo[index] = errors[0]
            elif node.fails:
                memo[index] = Failure(index)
            else:
                total = sum(results)
                memo[index] = total + (fetched_value(index, total) if node.fetch else 1)
        return memo[index]

    return [value(i) for i in range(len(graph))]


def depth_in_rounds(graph: list[Node], counted: set[str]) -> int:
    """The longest chain of fetches (of the ``counted`` kinds) along any dependency path."""
    depth: list[int] = []
    for node in graph:
        below = max((depth[d] for d in node.deps), default=0)
        depth.append(below + (1 if node.fetch in counted else 0))
    return max(depth, default=0)


def run_with_asynq(graph: list[Node], kinds: dict[str, KeyKind]) -> list[Any]:
    tasks: dict[int, Any] = {}

    @asynq.asynq()
    def model(index: int) -> Any:
        node = graph[index]
        # A failing dependency raises here: the first failure in yield order.
        results = yield [tasks[dep] for dep in node.deps]
        if node.fails:
            raise Failure(index)
        total = sum(results)
        if node.fetch is None:
            return total + 1
        fetched = yield kinds[node.fetch].get((index, total))
        return total + fetched

    @asynq.asynq()
    def everything() -> Any:
        outcomes = []
        for index in range(len(graph)):
            outcomes.append(tasks[index])
        values = []
        for task in outcomes:
            try:
                values.append((yield task))
            except Failure as error:
                values.append(error)
        return values

    for index in range(len(graph)):
        tasks[index] = model.asynq(index)

    # Start every node in the first step so that start order does not add rounds.
    @asynq.asynq()
    def start_all() -> Any:
        try:
            yield [tasks[i] for i in range(len(graph))]
        except Failure:
            pass
        return (yield everything.asynq())

    return start_all()


def make_kinds(names: tuple[str, ...]) -> dict[str, KeyKind]:
    kinds = {}
    for name in names:
        kind = KeyKind(name)
        kind.value_of = lambda key: fetched_value(key[0], key[1])  # type: ignore[method-assign]
        kinds[name] = kind
    return kinds


def same(a: list[Any], b: list[Any]) -> bool:
    return [repr(x) for x in a] == [repr(x) for x in b]


@given(graph=graphs(), seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_one_batch_kind_flushes_as_often_as_the_graph_is_deep(
    graph: list[Node], seed: int | None
) -> None:
    get_scheduler().reset()
    get_scheduler().shuffle(seed)
    kinds = make_kinds(("a",))
    assert same(run_with_asynq(graph, kinds), plain_evaluate(graph))
    assert len(kinds["a"].flushes) == depth_in_rounds(graph, {"a"})
    assert get_scheduler().stats.rounds == depth_in_rounds(graph, {"a"})


@given(graph=graphs(kinds=("a", "b", "c")), seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_several_batch_kinds_take_as_many_rounds_as_the_longest_chain_over_all_kinds(
    graph: list[Node], seed: int | None
) -> None:
    get_scheduler().reset()
    get_scheduler().shuffle(seed)
    kinds = make_kinds(("a", "b", "c"))
    assert same(run_with_asynq(graph, kinds), plain_evaluate(graph))
    assert get_scheduler().stats.rounds == depth_in_rounds(graph, {"a", "b", "c"})
    for name, kind in kinds.items():
        assert len(kind.flushes) <= depth_in_rounds(graph, {name, *kinds})
        fetched = sorted(k for flush in kind.flushes for k in flush)
        assert len(fetched) == sum(1 for n in graph if n.fetch == name)


@given(
    graph=graphs(kinds=("a", "b"), allow_errors=True),
    seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)
def test_errors_reach_exactly_the_nodes_that_depend_on_them_in_every_order(
    graph: list[Node], seed: int | None
) -> None:
    get_scheduler().reset()
    get_scheduler().shuffle(seed)
    assert same(run_with_asynq(graph, make_kinds(("a", "b"))), plain_evaluate(graph))
    scheduler = get_scheduler()
    assert not scheduler._ready and not scheduler._batches


@given(
    steps=st.lists(st.lists(st.sampled_from(["fetch", "task", "none"]), max_size=4), max_size=5),
    seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)
def test_sequential_yields_cost_one_round_per_step_that_fetches(
    steps: list[list[str]], seed: int | None
) -> None:
    get_scheduler().reset()
    get_scheduler().shuffle(seed)
    kv = make_kinds(("kv",))["kv"]

    @asynq.asynq()
    def inner(i: int) -> Any:
        return (yield kv.get((i, 0)))

    @asynq.asynq()
    def walker() -> Any:
        collected = []
        for n, step in enumerate(steps):
            futures = []
            for m, what in enumerate(step):
                if what == "fetch":
                    futures.append(kv.get((n * 10 + m, 0)))
                elif what == "task":
                    futures.append(inner.asynq(n * 10 + m))
                else:
                    futures.append(None)
            collected.append((yield futures))
        return collected

    result = walker()
    expected = [
        [None if what == "none" else fetched_value(n * 10 + m, 0) for m, what in enumerate(step)]
        for n, step in enumerate(steps)
    ]
    assert result == expected
    assert len(kv.flushes) == sum(1 for step in steps if any(w != "none" for w in step))

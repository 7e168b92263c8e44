"""Properties over random key sets, batch-function results and scheduling orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from asynq import asynq, get_scheduler
from asynq.loaders import Loader, LoaderContractError, MissingKeyError, request_scope

from .conftest import Recorder

keys_st = st.lists(st.integers(0, 30), min_size=1, max_size=40)
sizes_st = st.one_of(st.none(), st.integers(1, 6))
SHAPES = ["list", "dict", "wrong_length", "missing", "errors", "raises"]


def distinct(keys: list[int]) -> list[int]:
    return list(dict.fromkeys(keys))


@given(keys=keys_st, size=sizes_st, data=st.data())
def test_every_key_gets_exactly_the_outcome_its_calls_result_gives_it(
    keys: list[int], size: int | None, data: st.DataObject
) -> None:
    get_scheduler().reset()
    expected: dict[int, Any] = {}

    def answer(call_keys: list[int]) -> Any:
        shape = data.draw(st.sampled_from(SHAPES), label="shape")
        if shape == "list":
            expected.update({k: ("value", k * 10) for k in call_keys})
            return [k * 10 for k in call_keys]
        if shape == "dict":
            expected.update({k: ("value", k * 10) for k in call_keys})
            return {k: k * 10 for k in reversed(call_keys)}
        if shape == "wrong_length":
            n = data.draw(
                st.integers(0, len(call_keys) + 3).filter(lambda n: n != len(call_keys)), label="n"
            )
            message = f"returned a list of {n} value(s) for {len(call_keys)} key(s)"
            expected.update({k: ("contract", message) for k in call_keys})
            return list(range(n))
        if shape == "missing":
            gone = data.draw(st.sets(st.sampled_from(call_keys)), label="missing")
            expected.update({k: ("missing",) if k in gone else ("value", k) for k in call_keys})
            return {k: k for k in call_keys if k not in gone}
        if shape == "errors":
            bad = data.draw(st.sets(st.sampled_from(call_keys)), label="errors")
            expected.update(
                {k: ("error", f"e{k}") if k in bad else ("value", k) for k in call_keys}
            )
            return [ValueError(f"e{k}") if k in bad else k for k in call_keys]
        expected.update({k: ("raised",) for k in call_keys})
        raise ConnectionError("down")

    recorder = Recorder(answer)
    load = Loader(recorder, max_batch_size=size, name="load")
    futures = [load.asynq(k) for k in keys]
    futures[0].error()  # one round flushes them all

    # The calls: the distinct keys, in first-request order, cut into consecutive chunks.
    unique = distinct(keys)
    step = size or len(unique)
    assert recorder.keys == [unique[i : i + step] for i in range(0, len(unique), step)]
    assert set(recorder.rounds()) == {0}

    for key, future in zip(keys, futures, strict=True):
        outcome = expected[key]
        error = future.error()
        if outcome[0] == "value":
            assert error is None and future.value() == outcome[1]
        elif outcome[0] == "contract":
            assert isinstance(error, LoaderContractError)
            assert outcome[1] in str(error)
        elif outcome[0] == "missing":
            assert isinstance(error, MissingKeyError)
            assert f"no entry for key {key}" in str(error)
        elif outcome[0] == "error":
            assert isinstance(error, ValueError) and str(error) == outcome[1]
        else:
            assert isinstance(error, ConnectionError)


@given(keys=keys_st, data=st.data())
def test_only_per_key_outcomes_are_cached_and_whole_call_failures_are_asked_again(
    keys: list[int], data: st.DataObject
) -> None:
    get_scheduler().reset()
    failing = data.draw(st.sets(st.sampled_from(keys)), label="keys whose call fails")

    def answer(call_keys: list[int]) -> Any:
        if failing.intersection(call_keys):
            raise ConnectionError("down")
        return [KeyError(k) if k % 3 == 0 else k for k in call_keys]

    recorder = Recorder(answer)
    load = Loader(recorder, max_batch_size=1)
    with request_scope():
        for future in [load.asynq(k) for k in keys]:
            future.error()
        recorder.calls.clear()
        for future in [load.asynq(k) for k in keys]:
            future.error()
    # Only the keys whose call raised are requested again; values and per-key errors are cached.
    assert recorder.keys == [[k] for k in distinct(keys) if k in failing]


@dataclass
class Node:
    key: int
    children: list[Node] = field(default_factory=list)


def depth(node: Node) -> int:
    return 1 + max((depth(c) for c in node.children), default=0)


trees = st.recursive(
    st.builds(Node, st.integers(0, 15)),
    lambda kids: st.builds(Node, st.integers(0, 15), st.lists(kids, max_size=3)),
    max_leaves=20,
)


@given(tree=trees, seed=st.integers(0, 2**32 - 1))
def test_any_scheduling_order_gives_the_same_results_with_one_call_per_round(
    tree: Node, seed: int
) -> None:
    get_scheduler().reset()
    get_scheduler().shuffle(seed)
    recorder = Recorder(lambda keys: [k * k for k in keys])
    load = Loader(recorder)

    @asynq()
    def walk(node: Node) -> Any:
        value = yield load.asynq(node.key)
        below = yield [walk.asynq(c) for c in node.children]
        return value, below

    def plain(node: Node) -> Any:
        return node.key * node.key, [plain(c) for c in node.children]

    try:
        assert walk(tree) == plain(tree)
    finally:
        get_scheduler().shuffle(None)
    loaded = [k for call in recorder.keys for k in call]
    assert len(loaded) == len(set(loaded))  # every key fetched once
    assert recorder.rounds() == list(range(len(recorder.calls)))  # one call per round
    assert get_scheduler().stats.rounds == len(recorder.calls) <= depth(tree)

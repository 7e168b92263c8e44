"""amap, afilter, afilterfalse, asorted, amax, amin, asift and call_with_context: the results of
their built-in counterparts, with every call of an asynq function batched into one round."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from core.helpers import KeyKind

from asynq import AsyncContext, AsyncScopedValue, asynq
from asynq.tools import afilter, afilterfalse, amap, amax, amin, asift, asorted, call_with_context

Gen = Generator[Any, Any, Any]


@pytest.fixture
def kv() -> KeyKind:
    return KeyKind("kv")


def fetcher(kv: KeyKind, transform: Any = lambda key: key) -> Any:
    """An asynq function of one key: reads it through ``kv`` (batched), then transforms it."""

    @asynq()
    def fetch(key: Any) -> Gen:
        value = yield kv.get(key)
        assert value == ("value", key)
        return transform(key)

    return fetch


# -- amap ------------------------------------------------------------------------------------------


def test_amap_calls_the_function_for_every_element_in_one_batch(kv: KeyKind) -> None:
    assert amap(fetcher(kv, lambda k: k * 10), [3, 1, 2]) == [30, 10, 20]
    assert kv.flushes == [[3, 1, 2]]


def test_amap_of_an_empty_sequence_is_an_empty_list_and_flushes_nothing(kv: KeyKind) -> None:
    assert amap(fetcher(kv), []) == []
    assert kv.flushes == []


def test_amap_accepts_any_iterable_including_a_generator(kv: KeyKind) -> None:
    assert amap(fetcher(kv), (n for n in range(3))) == [0, 1, 2]
    assert kv.flushes == [[0, 1, 2]]


def test_amap_calls_a_plain_function_directly() -> None:
    assert amap(len, ["ab", "", "abc"]) == [2, 0, 3]


def test_amap_raises_the_failure_of_a_call_after_every_call_has_finished(kv: KeyKind) -> None:
    finished: list[int] = []

    @asynq()
    def check(n: int) -> Gen:
        yield kv.get(n)
        if n == 2:
            raise ValueError(f"bad element {n}")
        finished.append(n)
        return n

    with pytest.raises(ValueError, match="bad element 2"):
        amap(check, [1, 2, 3])
    assert finished == [1, 3]
    assert kv.flushes == [[1, 2, 3]]


def test_amap_calls_of_sibling_tasks_share_one_round(kv: KeyKind) -> None:
    fetch = fetcher(kv)

    @asynq()
    def both() -> Gen:
        return (yield amap.asynq(fetch, [1, 2]), amap.asynq(fetch, [3]))

    assert both() == ([1, 2], [3])
    assert kv.flushes == [[1, 2, 3]]


# -- afilter, afilterfalse, asift --------------------------------------------------------------


def test_afilter_keeps_the_elements_the_asynq_predicate_accepts_in_order(kv: KeyKind) -> None:
    is_odd = fetcher(kv, lambda n: n % 2 == 1)
    assert afilter(is_odd, [5, 2, 3, 4, 1]) == [5, 3, 1]
    assert kv.flushes == [[5, 2, 3, 4, 1]]


def test_afilter_with_none_keeps_the_truthy_elements() -> None:
    assert afilter(None, [0, 1, "", "a", None, [], [0]]) == [1, "a", [0]]


def test_afilter_calls_a_plain_predicate_directly_and_handles_empty_input() -> None:
    assert afilter(lambda n: n > 1, [1, 2, 3]) == [2, 3]
    assert afilter(lambda n: n > 1, []) == []


def test_afilterfalse_keeps_the_elements_the_asynq_predicate_rejects(kv: KeyKind) -> None:
    is_odd = fetcher(kv, lambda n: n % 2 == 1)
    assert afilterfalse(is_odd, [5, 2, 3, 4, 1]) == [2, 4]
    assert afilterfalse(is_odd, []) == []
    assert kv.flushes == [[5, 2, 3, 4, 1]]


def test_afilterfalse_with_none_keeps_the_falsy_elements() -> None:
    assert afilterfalse(None, [0, 1, "", "a", None]) == [0, "", None]


def test_asift_splits_into_accepted_and_rejected_keeping_order(kv: KeyKind) -> None:
    is_odd = fetcher(kv, lambda n: n % 2 == 1)
    assert asift(is_odd, [1, 2, 3, 4, 5]) == ([1, 3, 5], [2, 4])
    assert asift(is_odd, []) == ([], [])
    assert asift(lambda n: n > 2, [1, 2, 3]) == ([3], [1, 2])
    assert kv.flushes == [[1, 2, 3, 4, 5]]


def test_a_failing_predicate_fails_the_filter(kv: KeyKind) -> None:
    @asynq()
    def picky(n: int) -> Gen:
        yield kv.get(n)
        raise KeyError(n)

    with pytest.raises(KeyError):
        afilter(picky, [1])
    with pytest.raises(KeyError):
        asift(picky, [2])


# -- asorted, amax, amin -------------------------------------------------------------------------


def test_asorted_orders_by_the_asynq_key_with_one_batch_of_key_calls(kv: KeyKind) -> None:
    negated = fetcher(kv, lambda n: -n)
    assert asorted([2, 3, 1], key=negated) == [3, 2, 1]
    assert kv.flushes == [[2, 3, 1]]


def test_asorted_is_stable_for_equal_keys_also_in_reverse(kv: KeyKind) -> None:
    first_letter = fetcher(kv, lambda word: word[0])
    words = ["bx", "a1", "by", "a2"]
    assert asorted(words, key=first_letter) == ["a1", "a2", "bx", "by"]
    assert asorted(words, key=first_letter, reverse=True) == ["bx", "by", "a1", "a2"]
    assert sorted(words, key=lambda w: w[0], reverse=True) == ["bx", "by", "a1", "a2"]


def test_asorted_without_a_key_or_with_a_plain_key_is_sorted() -> None:
    assert asorted([3, 1, 2]) == [1, 2, 3]
    assert asorted([3, 1, 2], reverse=True) == [3, 2, 1]
    assert asorted(["bb", "a", "ccc"], key=len) == ["a", "bb", "ccc"]
    assert asorted([]) == []


def test_amax_and_amin_pick_by_the_asynq_key_in_one_batch(kv: KeyKind) -> None:
    negated = fetcher(kv, lambda n: -n)
    assert amax([2, 3, 1], key=negated) == 1
    assert amin([2, 3, 1], key=negated) == 3
    assert kv.flushes == [[2, 3, 1], [2, 3, 1]]


def test_amax_and_amin_return_the_first_of_equal_items_like_max_and_min(kv: KeyKind) -> None:
    first = fetcher(kv, lambda pair: pair[0])
    pairs = [(1, "a"), (2, "b"), (2, "c"), (1, "d")]
    assert amax(pairs, key=first) == max(pairs, key=lambda p: p[0]) == (2, "b")
    assert amin(pairs, key=first) == min(pairs, key=lambda p: p[0]) == (1, "a")


def test_amax_and_amin_take_several_arguments_or_one_iterable_like_max_and_min() -> None:
    assert amax(3, 1, 2) == 3
    assert amin(3, 1, 2) == 1
    assert amax([3, 1, 2]) == 3
    assert amin(iter([3, 1, 2])) == 1
    assert amax("b", "a", key=len) == "b"


def test_amax_and_amin_of_nothing_fail_unless_a_default_is_given() -> None:
    assert amax([], default="none") == "none"
    assert amin([], key=len, default=0) == 0
    with pytest.raises(ValueError, match=r"amax\(\) arg is an empty sequence"):
        amax([])
    with pytest.raises(ValueError, match=r"amin\(\) arg is an empty sequence"):
        amin([], key=len)


def test_a_failing_key_fails_the_sort(kv: KeyKind) -> None:
    @asynq()
    def broken(n: int) -> Gen:
        yield kv.get(n)
        raise ZeroDivisionError(n)

    with pytest.raises(ZeroDivisionError):
        asorted([1, 2], key=broken)
    with pytest.raises(ZeroDivisionError):
        amax([1, 2], key=broken)


# -- call_with_context ---------------------------------------------------------------------------


class Recorder:
    """A plain context manager that logs enter and exit."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __enter__(self) -> None:
        self.log.append("enter")

    def __exit__(self, *exc: object) -> None:
        self.log.append("exit")


def test_call_with_context_runs_the_call_inside_the_context(kv: KeyKind) -> None:
    log: list[str] = []

    @asynq()
    def work(x: int, plus: int = 0) -> Gen:
        log.append("work starts")
        yield kv.get(x)
        log.append("work ends")
        return x + plus

    assert call_with_context(Recorder(log), work, 1, plus=2) == 3
    assert log == ["enter", "work starts", "work ends", "exit"]


def test_call_with_context_calls_a_plain_function_inside_the_context() -> None:
    log: list[str] = []
    assert call_with_context(Recorder(log), lambda x, y=0: log.append("call") or x + y, 3, y=4) == 7
    assert log == ["enter", "call", "exit"]


def test_call_with_context_applies_an_async_context_to_the_call_only(kv: KeyKind) -> None:
    mode: AsyncScopedValue[str] = AsyncScopedValue("normal")
    seen: dict[str, str] = {}

    @asynq()
    def observe(label: str) -> Gen:
        yield kv.get(label)
        seen[label] = mode()

    @asynq()
    def both() -> Gen:
        yield (
            observe.asynq("sibling"),
            call_with_context.asynq(mode.override("special"), observe, "in context"),
        )

    both()
    assert seen == {"sibling": "normal", "in context": "special"}
    assert kv.flushes == [["sibling", "in context"]]
    assert mode() == "normal"


def test_call_with_context_exits_the_context_when_the_call_fails() -> None:
    log: list[str] = []

    @asynq()
    def fails() -> None:
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        call_with_context(Recorder(log), fails)
    assert log == ["enter", "exit"]


def test_call_with_context_pauses_an_async_context_while_siblings_run(kv: KeyKind) -> None:
    events: list[str] = []

    class Tracked(AsyncContext):
        def resume(self) -> None:
            events.append("resume")

        def pause(self) -> None:
            events.append("pause")

    @asynq()
    def sibling() -> Gen:
        events.append("sibling runs")
        yield kv.get("s")

    @asynq()
    def inner() -> Gen:
        events.append("inner runs")
        yield kv.get("i")

    @asynq()
    def both() -> Gen:
        yield call_with_context.asynq(Tracked(), inner), sibling.asynq()

    both()
    assert "sibling runs" in events
    before_sibling = events[: events.index("sibling runs")]
    assert before_sibling.count("resume") == before_sibling.count("pause")
    assert events.count("resume") == events.count("pause")

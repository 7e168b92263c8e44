"""Instruments: objects whose hooks the scheduler calls around task steps, rounds and flushes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from asynq import AsyncTask, BatchBase, ConstFuture, TaskScheduler, asynq, debug, get_scheduler
from asynq.futures import short_repr
from asynq.instruments import (
    Instrument,
    add_instrument,
    current_instruments,
    current_scheduler,
    futures_in,
    remove_instrument,
)

from .helpers import Blog


class Recorder(Instrument):
    """Writes down every hook call, naming tasks by function and batches by class."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def before_task_step(self, task: AsyncTask[Any]) -> None:
        self.calls.append(("before step", task.fn.__name__))

    def after_task_step(self, task: AsyncTask[Any], start: float, end: float, own: float) -> None:
        assert start <= end
        assert 0.0 <= own <= end - start
        waits = [type(f).__name__ for f in futures_in(task.blocked_on)]
        done = "finished" if task.is_computed() else "blocked"
        self.calls.append(("after step", task.fn.__name__, done, waits))

    def before_round(self) -> None:
        self.calls.append(("before round",))

    def after_round(self) -> None:
        self.calls.append(("after round",))

    def before_batch_flush(self, batch: BatchBase[Any]) -> None:
        self.calls.append(("before flush", type(batch).__name__, len(batch.items)))

    def after_batch_flush(self, batch: BatchBase[Any], items: list[Any], seconds: float) -> None:
        assert seconds >= 0.0
        self.calls.append(("after flush", type(batch).__name__, len(items)))


class FlushCounter(Instrument):
    """Only round and flush hooks."""

    def __init__(self) -> None:
        self.rounds = 0
        self.keys: list[list[Any]] = []

    def before_round(self) -> None:
        self.rounds += 1

    def after_batch_flush(self, batch: BatchBase[Any], items: list[Any], seconds: float) -> None:
        self.keys.append([item.key for item in items])


@pytest.fixture
def installed() -> Any:
    """Install instruments for one test; every one is removed afterwards."""
    added: list[Any] = []

    def install(instrument: Any) -> Any:
        add_instrument(instrument)
        added.append(instrument)
        return instrument

    yield install
    for instrument in added:
        if instrument in current_instruments():
            remove_instrument(instrument)


# -- what the hooks see -------------------------------------------------------------------------------


def test_an_instrument_sees_each_step_each_round_and_each_flush_in_order(installed: Any) -> None:
    blog = Blog()
    recorder = installed(Recorder())
    assert blog.page([1]) == (("v", "viewer"), [("v", ("user", 1))])
    assert recorder.calls == [
        ("before step", "page"),
        ("after step", "page", "blocked", ["LoggedItem", "AsyncTask"]),
        ("before step", "author_name"),
        ("after step", "author_name", "blocked", ["LoggedItem"]),
        ("before round",),
        ("before flush", "UsersBatch", 1),
        ("after flush", "UsersBatch", 1),
        ("before flush", "LoggedBatch", 1),
        ("after flush", "LoggedBatch", 1),
        ("after round",),
        ("before step", "author_name"),
        ("after step", "author_name", "blocked", ["LoggedItem"]),
        ("before round",),
        ("before flush", "UsersBatch", 1),
        ("after flush", "UsersBatch", 1),
        ("after round",),
        ("before step", "author_name"),
        ("after step", "author_name", "finished", []),
        ("before step", "page"),
        ("after step", "page", "finished", []),
    ]


def test_a_step_own_time_leaves_out_a_synchronous_call_and_its_round(installed: Any) -> None:
    blog = Blog()
    steps: dict[str, list[tuple[float, float, float]]] = {}

    class Steps(Instrument):
        def after_task_step(
            self, task: AsyncTask[Any], start: float, end: float, own: float
        ) -> None:
            steps.setdefault(task.fn.__name__, []).append((start, end, own))

    @asynq()
    def outer() -> Any:
        name = blog.author_name(1)  # synchronous: its steps and rounds nest in this step
        return name

    installed(Steps())
    assert outer() == ("v", ("user", 1))
    [(start, end, own)] = steps["outer"]
    inner = steps["author_name"]
    assert len(inner) == 3
    assert all(start <= s <= e <= end for s, e, _ in inner)
    # Everything between the outer step's start and end that is not its own time ran nested:
    # the inner steps' own times and the two rounds between them.
    assert own < (end - start) - sum(o for _, _, o in inner)
    assert own >= 0.0


def test_flush_hooks_get_the_items_a_batch_held_before_it_flushed(installed: Any) -> None:
    blog = Blog()
    counter = installed(FlushCounter())
    blog.page([1, 2])
    assert counter.rounds == 2
    assert counter.keys == [["viewer"], [1, 2], [("user", 1), ("user", 0)]]


def test_instruments_are_called_in_the_order_they_were_added(installed: Any) -> None:
    order: list[str] = []

    class Named(Instrument):
        def __init__(self, name: str) -> None:
            self.name = name

        def before_round(self) -> None:
            order.append(self.name)

    installed(Named("first"))
    installed(Named("second"))
    Blog().page([1])
    assert order == ["first", "second", "first", "second"]


def test_any_object_with_hook_methods_is_an_instrument(installed: Any) -> None:
    rounds: list[str] = []

    class Plain:
        def after_round(self) -> None:
            rounds.append("round")

    installed(Plain())
    Blog().page([1])
    assert rounds == ["round", "round"]


def test_a_finished_or_new_task_is_blocked_on_nothing() -> None:
    @asynq()
    def double(x: int) -> Any:
        return x * 2

    task = double.asynq(3)
    assert task.blocked_on is None
    assert task.value() == 6
    assert task.blocked_on is None


def test_futures_in_walks_a_yielded_value_in_order() -> None:
    a, b, c = ConstFuture(1), ConstFuture(2), ConstFuture(3)
    assert futures_in(None) == []
    assert futures_in(a) == [a]
    assert futures_in([a, (b, None), {"k": c}]) == [a, b, c]


# -- what it costs ------------------------------------------------------------------------------------


def test_round_hooks_alone_keep_the_plain_scheduler_loop(installed: Any) -> None:
    installed(FlushCounter())
    assert type(get_scheduler()) is TaskScheduler


def test_step_hooks_switch_the_loop_until_the_last_step_instrument_goes() -> None:
    first, second = Recorder(), Recorder()
    add_instrument(first)
    add_instrument(second)
    assert type(get_scheduler()) is not TaskScheduler
    assert isinstance(get_scheduler(), TaskScheduler)
    remove_instrument(first)
    assert type(get_scheduler()) is not TaskScheduler
    remove_instrument(second)
    assert type(get_scheduler()) is TaskScheduler
    assert current_instruments() == ()


def test_adding_an_instrument_twice_installs_it_once(installed: Any) -> None:
    counter = FlushCounter()
    installed(counter)
    installed(counter)
    assert current_instruments() == (counter,)
    Blog().page([1])
    assert counter.rounds == 2


def test_instruments_are_per_thread(installed: Any) -> None:
    counter = installed(FlushCounter())
    seen: list[tuple[Any, ...]] = []

    def worker() -> None:
        Blog().page([1])
        seen.append(current_instruments())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [()]
    assert counter.rounds == 0


def test_current_scheduler_is_the_thread_scheduler() -> None:
    assert current_scheduler() is get_scheduler()


def test_the_statistics_are_the_built_in_instrument() -> None:
    assert isinstance(get_scheduler().stats, Instrument)
    assert get_scheduler().stats not in current_instruments()


# -- abuse --------------------------------------------------------------------------------------------


def test_adding_an_object_without_hooks_says_what_an_instrument_is() -> None:
    with pytest.raises(TypeError) as raised:
        add_instrument(42)
    assert str(raised.value) == (
        "add_instrument() expects an instrument, an object with at least one of the hooks "
        "before_task_step, after_task_step, before_round, after_round, before_batch_flush, "
        "after_batch_flush, got int: 42; subclass asynq.instruments.Instrument and override "
        "the hooks you need"
    )


def test_removing_an_instrument_that_is_not_installed_says_they_are_per_thread() -> None:
    counter = FlushCounter()
    with pytest.raises(KeyError) as raised:
        remove_instrument(counter)
    assert raised.value.args[0] == (
        f"remove_instrument(): {short_repr(counter, 60)} is not installed on this scheduler "
        "(installed: 0); instruments are per thread, remove it on the thread that added it"
    )


# -- the profiler switch --------------------------------------------------------------------------------


def test_setting_the_profiler_switch_calls_its_watchers() -> None:
    seen: list[bool] = []
    debug.options.watch_perf_stats(seen.append)
    debug.options.watch_perf_stats(seen.append)  # once is enough
    debug.options.COLLECT_PERF_STATS = True
    debug.options.COLLECT_PERF_STATS = False
    assert seen == [True, False]


def test_short_repr_cuts_long_reprs_and_survives_broken_ones() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise ValueError("no")

    assert short_repr("x" * 100, 10) == "'xxxxxx..."
    assert short_repr(Broken()) == "<unrepresentable Broken: ValueError('no')>"

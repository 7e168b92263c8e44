"""The trace recorder: what it records, the Chrome trace-event export and the dependency graph."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from typing import Any

import pytest

from asynq import TaskScheduler, asynq, debug, get_scheduler, profiler, tracing

from .helpers import Blog, Store

TRACE_EVENT_FIELDS = {"name", "ph", "pid", "tid", "ts", "dur", "cat", "args"}


def traced_blog(post_ids: list[int]) -> tuple[Blog, tracing.Trace]:
    blog = Blog()
    with tracing.trace() as t:
        blog.page(post_ids)
    return blog, t


# -- what a trace records ---------------------------------------------------------------------------


def test_a_trace_records_every_task_with_its_function_arguments_and_creator() -> None:
    _, t = traced_blog([1, 2])
    assert [(r.id, r.label, r.creator) for r in t.tasks] == [
        (1, "page([1, 2])", None),
        (2, "author_name(1)", 1),
        (3, "author_name(2)", 1),
    ]
    assert [r.module for r in t.tasks] == [Blog.__module__] * 3
    assert all(r.end is not None and r.error is None for r in t.tasks)


def test_a_trace_records_what_each_task_waited_on_in_order() -> None:
    _, t = traced_blog([1, 2])
    assert [r.waits_on for r in t.tasks] == [
        [("batch", 1), ("task", 2), ("task", 3)],
        [("batch", 2), ("batch", 3)],
        [("batch", 2), ("batch", 3)],
    ]


def test_a_trace_records_the_waits_of_a_dict_yield_with_nested_containers() -> None:
    store = Store("kv", [])

    @asynq()
    def double(x: int) -> Any:
        return x * 2

    @asynq()
    def reads() -> Any:
        got = yield {"item": store.get(1), "more": [double.asynq(2), (double.asynq(3),)]}
        return got

    with tracing.trace() as t:
        assert reads() == {"item": ("v", 1), "more": [4, (6,)]}
    assert [r.label for r in t.tasks] == ["reads()", "double(2)", "double(3)"]
    assert t.tasks[0].waits_on == [("batch", 1), ("task", 2), ("task", 3)]


def test_a_trace_records_each_round_with_its_batches_items_and_keys() -> None:
    blog, t = traced_blog([1, 2, 3, 4])
    assert [(r.index, r.batches) for r in t.rounds] == [(1, [1, 2]), (2, [3])]
    assert [(b.id, b.kind, b.round, b.items, b.keys) for b in t.batches] == [
        (1, "UsersBatch", 1, 1, 1),
        (2, "LoggedBatch", 1, 4, 4),
        (3, "UsersBatch", 2, 4, 2),
    ]
    assert t.batch(3).key_sample == ["('user', 1)", "('user', 0)", "('user', 1)", "('user', 0)"]
    assert len(blog.log) == len(t.batches)


def test_trace_times_are_ordered_within_each_task_round_and_batch() -> None:
    _, t = traced_blog([1, 2])
    for task in t.tasks:
        assert task.start is not None and task.end is not None
        assert 0 <= task.start <= task.end <= t.duration
        assert task.steps[0][0] == task.start and task.steps[-1][1] == task.end
        assert 0 <= task.run_seconds <= task.end - task.start
    for round_ in t.rounds:
        for batch_id in round_.batches:
            batch = t.batch(batch_id)
            assert batch.start is not None and batch.end is not None
            assert round_.start <= batch.start <= batch.end <= round_.end


def test_each_step_of_a_task_is_recorded() -> None:
    _, t = traced_blog([1])
    # page: start, resumed after round 1... author_name: start, after posts, after users
    assert [len(r.steps) for r in t.tasks] == [2, 3]


def test_a_synchronous_call_inside_a_task_is_marked_with_the_task_it_ran_in() -> None:
    blog = Blog()

    @asynq()
    def impure() -> Any:
        first = blog.author_name(1)
        second = yield blog.author_name.asynq(2)
        return first, second

    with tracing.trace() as t:
        impure()
    assert [(r.label, r.creator, r.sync_call_in) for r in t.tasks] == [
        ("impure()", None, None),
        ("author_name(1)", 1, 1),
        ("author_name(2)", 1, None),
    ]
    inner = t.task(2)
    outer = t.task(1)
    assert outer.steps[0][0] <= inner.start <= inner.end <= outer.steps[0][1]  # type: ignore[operator]
    # the outer step's own time leaves out the nested run
    assert outer.run_seconds < (outer.end or 0) - (outer.start or 0)


def test_a_failing_task_is_recorded_with_its_error() -> None:
    @asynq()
    def fails(x: int) -> Any:
        raise ValueError(f"no {x}")

    @asynq()
    def parent() -> Any:
        try:
            yield fails.asynq(3)
        except ValueError:
            return "handled"

    with tracing.trace() as t:
        assert parent() == "handled"
    assert [(r.label, r.error) for r in t.tasks] == [
        ("parent()", None),
        ("fails(3)", "ValueError('no 3')"),
    ]


def test_the_trace_carries_the_scheduler_statistics_of_its_stretch() -> None:
    blog = Blog()
    blog.page([9])
    with tracing.trace() as t:
        blog.page([1, 2])
    assert (t.stats.rounds, t.stats.batches, t.stats.items, t.stats.tasks) == (2, 3, 5, 3)


def test_summary_lists_each_round_and_what_it_flushed() -> None:
    _, t = traced_blog([1, 2, 3])
    lines = re.sub(r"\d+\.\d\d ms", "T ms", t.summary()).splitlines()
    assert lines == [
        "trace of thread MainThread: 4 tasks, 2 rounds, 3 batch flushes, T ms",
        "  round 1: T ms: UsersBatch (1 item, 1 key), LoggedBatch (3 items, 3 keys)",
        "  round 2: T ms: UsersBatch (3 items, 2 keys)",
    ]


def test_the_dict_form_is_plain_json() -> None:
    _, t = traced_blog([1])
    data = json.loads(json.dumps(t.as_dict()))
    assert sorted(data) == ["batches", "duration", "rounds", "stats", "tasks", "thread"]
    assert [task["name"] for task in data["tasks"]] == ["page", "author_name"]
    assert data["stats"]["rounds"] == 2


# -- on and off -------------------------------------------------------------------------------------


def test_tracing_swaps_the_scheduler_class_only_while_active() -> None:
    scheduler = get_scheduler()
    assert type(scheduler) is TaskScheduler
    with tracing.trace() as t:
        assert type(scheduler) is not TaskScheduler
        assert isinstance(scheduler, TaskScheduler)
        assert t.active
    assert type(scheduler) is TaskScheduler
    assert not t.active


def test_nothing_is_recorded_after_the_trace_stops() -> None:
    blog, t = traced_blog([1])
    blog.page([2, 3])
    assert (len(t.tasks), len(t.batches), len(t.rounds)) == (2, 3, 2)


def test_nested_traces_both_record_and_the_class_is_restored_when_both_end() -> None:
    blog = Blog()
    with tracing.trace() as outer:
        blog.page([1])
        with tracing.trace() as inner:
            blog.page([2])
        assert type(get_scheduler()) is not TaskScheduler
    assert type(get_scheduler()) is TaskScheduler
    assert [r.label for r in outer.tasks] == [
        "page([1])",
        "author_name(1)",
        "page([2])",
        "author_name(2)",
    ]
    assert [r.label for r in inner.tasks] == ["page([2])", "author_name(2)"]
    assert [r.index for r in inner.rounds] == [1, 2]


def test_tracing_and_the_profiler_share_the_instrumented_scheduler() -> None:
    blog = Blog()
    profiler.reset()
    debug.options.COLLECT_PERF_STATS = True
    with tracing.trace() as t:
        blog.page([1])
    assert type(get_scheduler()) is not TaskScheduler  # the profiler still listens
    debug.options.COLLECT_PERF_STATS = False
    assert type(get_scheduler()) is TaskScheduler
    assert len(t.tasks) == 2
    assert len([r for r in profiler.flush() if "num_deps" in r]) == 2


def test_a_trace_records_once() -> None:
    t = tracing.trace()
    with t:
        pass
    with pytest.raises(RuntimeError, match="already recorded"):
        t.start()


def test_the_flush_hooks_are_released_when_the_trace_stops() -> None:
    scheduler = get_scheduler()
    seen: list[Any] = []
    scheduler.on_after_batch_flush.subscribe(seen.append)
    try:
        traced_blog([1])
        Blog().page([2])
    finally:
        scheduler.on_after_batch_flush.unsubscribe(seen.append)
    assert len(seen) == 6
    assert scheduler.instruments == ()


# -- Chrome trace events ------------------------------------------------------------------------------


def check_nesting(events: list[dict[str, Any]]) -> None:
    """On one track, complete events must nest or be disjoint (what Perfetto requires)."""
    tracks: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["ph"] == "X":
            tracks[(event["pid"], event["tid"])].append(event)
    for track in tracks.values():
        open_ends: list[float] = []
        for event in sorted(track, key=lambda e: (e["ts"], -e["dur"])):
            while open_ends and open_ends[-1] <= event["ts"]:
                open_ends.pop()
            end = event["ts"] + event["dur"]
            assert not open_ends or end <= open_ends[-1] + 1e-3, f"overlap on a track: {event}"
            open_ends.append(end)


def test_the_chrome_trace_is_json_with_the_trace_event_fields() -> None:
    _, t = traced_blog([1, 2, 3])
    data = json.loads(json.dumps(t.to_chrome()))
    events = data["traceEvents"]
    assert data["displayTimeUnit"] == "ms"
    for event in events:
        assert {"name", "ph", "pid"} <= set(event) <= TRACE_EVENT_FIELDS
        assert event["ph"] in ("X", "M")
        if event["ph"] == "X":
            assert set(event) == TRACE_EVENT_FIELDS
            assert event["ts"] >= 0 and event["dur"] >= 0
            assert isinstance(event["tid"], int)
    check_nesting(events)


def test_the_chrome_trace_has_one_event_per_task_flush_round_and_step() -> None:
    _, t = traced_blog([1, 2, 3])
    events = t.to_chrome()["traceEvents"]
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_cat[event.get("cat", "metadata")].append(event)
    assert len(by_cat["task"]) == len(t.tasks) == t.stats.tasks == 4
    assert len(by_cat["batch"]) == t.stats.batches == 3
    assert len(by_cat["round"]) == t.stats.rounds == 2
    assert len(by_cat["step"]) == sum(len(r.steps) for r in t.tasks) == 2 + 3 * 3
    assert sorted(e["args"]["task"] for e in by_cat["task"]) == [1, 2, 3, 4]
    assert [(e["name"], e["args"]["items"], e["args"]["keys"]) for e in by_cat["batch"]] == [
        ("UsersBatch (1 item)", 1, 1),
        ("LoggedBatch (3 items)", 3, 3),
        ("UsersBatch (3 items)", 3, 2),
    ]


def test_the_chrome_trace_has_one_track_per_round_holding_its_batches() -> None:
    _, t = traced_blog([1, 2])
    events = t.to_chrome()["traceEvents"]
    names = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    assert names[(1, 1)] == "round 1" and names[(1, 2)] == "round 2"
    round_tracks = {(e["cat"], e["tid"]) for e in events if e.get("cat") in ("round", "batch")}
    assert round_tracks == {("round", 1), ("batch", 1), ("round", 2), ("batch", 2)}
    assert all(e["pid"] == 1 for e in events if e.get("cat") in ("round", "batch"))
    assert all(e["pid"] == 2 for e in events if e.get("cat") in ("task", "step"))


def test_tasks_alive_at_the_same_time_get_separate_lanes() -> None:
    _, t = traced_blog([1, 2, 3])
    tasks = [e for e in t.to_chrome()["traceEvents"] if e.get("cat") == "task"]
    # page and the three author_name tasks all wait across round 1: four lanes
    assert sorted(e["tid"] for e in tasks) == [1, 2, 3, 4]


def test_an_unfinished_task_ends_at_the_end_of_the_trace() -> None:
    store = Store("kv", [])

    @asynq()
    def waits() -> Any:
        return (yield store.get(1))

    with tracing.trace() as t:
        task = waits.asynq()
        get_scheduler().schedule(task)
        get_scheduler().run_ready()
    get_scheduler().reset()
    (record,) = t.tasks
    assert record.end is None
    (event,) = [e for e in t.to_chrome()["traceEvents"] if e.get("cat") == "task"]
    assert event["args"]["finished"] is False
    assert event["ts"] + event["dur"] == pytest.approx(t.duration * 1e6, abs=1e-2)
    assert [(b.round, b.items) for b in t.batches] == [(None, 0)]


# -- the dependency graph -----------------------------------------------------------------------------


def render_svg(dot: str) -> str:
    done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)
    return done.stdout.decode()


def test_the_task_graph_has_a_node_per_task_a_box_per_batch_and_a_cluster_per_round() -> None:
    _, t = traced_blog([1, 2])
    dot = t.to_dot()
    assert re.findall(r"^  t(\d+) \[", dot, re.M) == ["1", "2", "3"]
    assert sorted(re.findall(r"^\s+b(\d+) \[shape=box", dot, re.M)) == ["1", "2", "3"]
    assert re.findall(r"subgraph cluster_round_(\d+)", dot) == ["1", "2"]
    assert sorted(re.findall(r"^  (t\d+ -> [tb]\d+);", dot, re.M)) == sorted(
        ["t1 -> b1", "t1 -> t2", "t1 -> t3", "t2 -> b2", "t2 -> b3", "t3 -> b2", "t3 -> b3"]
    )
    svg = render_svg(dot)
    assert svg.count('class="node"') == 6
    assert svg.count('class="cluster"') == 2


def test_the_graph_of_a_large_trace_has_one_node_per_function() -> None:
    _, t = traced_blog(list(range(100)))
    # Automatically: the 100 calls made by one task are one node, which is what one node per
    # function draws here too.
    assert re.findall(r"^  c(\d+) \[label=\"(\w+)", t.to_dot(), re.M) == [
        ("1", "page"),
        ("2", "author_name"),
    ]
    dot = t.to_dot(detail="functions")
    assert re.findall(r"^  f(\d+) \[label=\"(\w+)", dot, re.M) == [
        ("1", "page"),
        ("2", "author_name"),
    ]
    assert "× 100" in dot
    assert sorted(re.findall(r"^  (f\d+ -> [fg]\d+)", dot, re.M)) == [
        "f1 -> f2",
        "f1 -> g1",
        "f2 -> g2",
        "f2 -> g3",
    ]
    svg = render_svg(dot)
    assert svg.count('class="node"') == 5


def test_the_graph_marks_synchronous_calls_and_failed_tasks() -> None:
    blog = Blog()

    @asynq()
    def fails() -> Any:
        raise KeyError("gone")

    @asynq()
    def impure() -> Any:
        blog.author_name(1)
        try:
            yield fails.asynq()
        except KeyError:
            pass

    with tracing.trace() as t:
        impure()
    dot = t.to_dot(detail="tasks")
    assert re.search(r't1 -> t2 \[style=dashed, .*label="sync call"', dot)
    assert re.search(r't3 \[label="fails\(\)".*fillcolor="#f8d7da"', dot)
    render_svg(dot)
    functions = t.to_dot(detail="functions")
    assert re.search(r'f1 -> f2 \[style=dashed, .*label="sync call"', functions)
    render_svg(functions)


def test_the_graph_detail_must_be_one_of_four_names() -> None:
    _, t = traced_blog([1])
    with pytest.raises(ValueError) as error:
        t.to_dot(detail="all")
    assert str(error.value) == (
        "detail must be 'auto', 'tasks', 'calls' or 'functions', got 'all'"
    )


def traced_page(answers: int, upvoters: int) -> tracing.Trace:
    """The answers-and-upvoters page: 1 + answers * (2 + upvoters) tasks, two rounds."""
    from asynq.loaders import loader

    @loader(cache=False)
    def upvoters_table(aids: list[int]) -> list[list[int]]:
        return [[1000 + (aid * 7 + j) % 3000 for j in range(upvoters)] for aid in aids]

    @loader(cache=False)
    def names_table(uids: list[int]) -> list[str]:
        return [f"user{uid}" for uid in uids]

    @asynq()
    def upvoters_of_answer(aid: int) -> Any:
        return (yield upvoters_table.asynq(aid))

    @asynq()
    def name_of_user(uid: int) -> Any:
        return (yield names_table.asynq(uid))

    @asynq()
    def get_upvoter_names(aid: int) -> Any:
        uids = yield upvoters_of_answer.asynq(aid)
        return (yield [name_of_user.asynq(uid) for uid in uids])

    @asynq()
    def page(aids: list[int]) -> Any:
        return (yield [get_upvoter_names.asynq(aid) for aid in aids])

    with tracing.trace() as t:
        page(list(range(answers)))
    assert len(t.tasks) == 1 + answers * (2 + upvoters)
    return t


def picture_size(dot: str) -> tuple[int, int]:
    width, height = re.search(r'<svg width="(\d+)pt" height="(\d+)pt"', render_svg(dot)).groups()
    return int(width), int(height)


@pytest.mark.parametrize(
    ("answers", "upvoters", "detail", "rankdir"),
    [
        (1, 2, "t", "TB"),  # 5 tasks: every task, top to bottom
        (7, 5, "c", "LR"),  # 50 tasks: each answer's fan-out as one node, left to right
        (10, 3, "c", "LR"),  # 51 tasks, as wide as ten answers
        (38, 11, "f", "TB"),  # 495 tasks: one node per function
        (100, 48, "f", "TB"),  # 5,001 tasks
    ],
)
def test_the_automatic_picture_is_chosen_by_its_size_and_fits_a_screen(
    answers: int, upvoters: int, detail: str, rankdir: str
) -> None:
    t = traced_page(answers, upvoters)
    dot = t.to_dot()
    assert re.search(r"^  ([tcf])1 \[", dot, re.M).group(1) == detail  # type: ignore[union-attr]
    assert f"rankdir={rankdir}," in dot
    width, height = picture_size(dot)
    assert width <= tracing.MAX_PICTURE_POINTS and height <= tracing.MAX_PICTURE_POINTS


def test_the_calls_view_keeps_each_task_that_made_calls_and_merges_each_fan_out() -> None:
    t = traced_page(3, 4)
    dot = t.to_dot(detail="calls")
    labels = re.findall(r'^  c\d+ \[label="([^"]*)"', dot, re.M)
    assert sorted(labels) == sorted(
        ["page([0, 1, 2])"]
        + [f"get_upvoter_names({i})" for i in range(3)]
        + [f"upvoters_of_answer({i})" for i in range(3)]
        + ["name_of_user\\n× 4"] * 3
    )
    assert dot.count('label="× 4"') == 3 + 3  # into each fan-out, and from it to its batch
    render_svg(dot)


def test_a_forced_detail_that_is_too_wide_top_to_bottom_is_drawn_left_to_right() -> None:
    t = traced_page(10, 3)
    assert "rankdir=LR," in t.to_dot(detail="tasks")
    assert "rankdir=TB," in t.to_dot(detail="tasks", max_points=100_000)


def test_labels_with_quotes_and_markup_stay_valid_dot() -> None:
    store = Store("kv", [])

    @asynq()
    def odd(text: str) -> Any:
        return (yield store.get(text))

    with tracing.trace() as t:
        odd('say "<hi>" & \\ bye')
    render_svg(t.to_dot())


def test_write_trace_files_writes_json_dot_and_svg(tmp_path: Any) -> None:
    _, t = traced_blog([1, 2])
    out = tmp_path / "out"
    paths = tracing.write_trace_files(t, str(out))
    assert paths == [str(out / "trace.json"), str(out / "trace.dot"), str(out / "trace.svg")]
    assert json.loads((out / "trace.json").read_text())["traceEvents"]
    assert (out / "trace.dot").read_text() == t.to_dot()
    assert (out / "trace.svg").read_text().lstrip().startswith("<?xml")


def test_the_environment_variable_traces_the_program_and_writes_the_files_at_exit(
    tmp_path: Any,
) -> None:
    script = tmp_path / "prog.py"
    script.write_text(
        "import asynq.tracing\n"
        "from asynq import asynq\n"
        "@asynq()\n"
        "def leaf(i):\n"
        "    return i\n"
        "@asynq()\n"
        "def root():\n"
        "    return sum((yield [leaf.asynq(i) for i in range(3)]))\n"
        "print(root())\n"
    )
    out = tmp_path / "trace-out"
    env = {**os.environ, tracing.TRACE_ENV: str(out)}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == "3\n"
    assert sorted(os.listdir(out)) == ["trace.dot", "trace.json", "trace.svg"]
    events = json.loads((out / "trace.json").read_text())["traceEvents"]
    assert len([e for e in events if e.get("cat") == "task"]) == 4


def test_a_batch_is_described_by_the_items_it_held_before_flushing() -> None:
    from .helpers import LoggedBatch

    class HandsOff(LoggedBatch):
        def _flush(self) -> None:
            super()._flush()
            self.items = []  # as memcache's batch does with the misses it hands to compute tasks

    store = Store("kv", [], HandsOff)

    @asynq()
    def reads() -> Any:
        return (yield [store.get("a"), store.get("b"), store.get("a")])

    with tracing.trace() as t:
        reads()
    assert [(b.kind, b.items, b.keys, b.key_sample) for b in t.batches] == [
        ("HandsOff", 3, 2, ["'a'", "'b'", "'a'"])
    ]


# -- the exporters and the environment switch, apart from the recorder ----------------------------------


def test_the_exporters_module_writes_what_the_trace_methods_write(tmp_path: Any) -> None:
    from asynq import trace_export

    _, t = traced_blog([1, 2])
    assert trace_export.to_chrome(t) == t.to_chrome()
    assert trace_export.to_dot(t, "tasks") == t.to_dot("tasks")
    paths = trace_export.write_trace_files(t, str(tmp_path), "page")
    assert [os.path.basename(p) for p in paths][:2] == ["page.json", "page.dot"]
    assert json.loads((tmp_path / "page.json").read_text()) == t.to_chrome()


def test_without_the_environment_variable_no_trace_runs_behind_the_program() -> None:
    from asynq import trace_env

    assert tracing.TRACE_ENV not in os.environ
    assert trace_env.start_from_environment() is None
    assert trace_env.environment_trace() is None
    assert get_scheduler().instruments == ()

"""asynq.profiler: asynq 1.6's per-task records under debug.options.COLLECT_PERF_STATS."""

from __future__ import annotations

import re
import threading
from typing import Any

from asynq import TaskScheduler, asynq, debug, get_scheduler, profiler

from .helpers import Blog


def names(records: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in records]


def without_prefix(name: str) -> str:
    """``000003.module.fn(...)`` -> ``fn(...)`` for functions of the helpers or this module."""
    assert re.match(r"\d{6}\.", name), name
    name = name[7:]
    for module in (Blog.__module__, __name__):
        if name.startswith(module + "."):
            return name[len(module) + 1 :]
    return name


def test_nothing_is_recorded_while_the_switch_is_off() -> None:
    profiler.reset()
    Blog().page([1])
    assert profiler.flush() == []
    assert type(get_scheduler()) is TaskScheduler


def test_each_flushed_batch_and_finished_task_gets_a_record_in_the_order_they_end() -> None:
    blog = Blog()
    profiler.reset()
    debug.options.COLLECT_PERF_STATS = True
    blog.page([1, 2])
    records = profiler.flush()
    batch_keys = ["dependencies", "name", "time_taken"]
    task_keys = ["dependencies", "name", "num_deps", "time_taken"]
    assert [sorted(r) for r in records] == [batch_keys] * 3 + [task_keys] * 3
    module = Blog.__module__
    assert names(records)[:3] == [
        f"{module}.UsersBatch (flushed, 1 item(s))",
        f"{module}.LoggedBatch (flushed, 2 item(s))",
        f"{module}.UsersBatch (flushed, 2 item(s))",
    ]
    item = f"{module}.LoggedItem"
    assert [r["dependencies"] for r in records[:3]] == [[item], [item] * 2, [item] * 2]
    tasks = [r for r in records if "num_deps" in r]
    assert [without_prefix(r["name"]) for r in tasks] == [
        "Blog.__init__.<locals>.author_name((1,) {})",
        "Blog.__init__.<locals>.author_name((2,) {})",
        "Blog.__init__.<locals>.page(([1, 2],) {})",
    ]
    assert all(isinstance(r["time_taken"], int) and r["time_taken"] >= 0 for r in records)


def test_task_names_are_numbered_in_the_order_the_profiler_first_saw_them() -> None:
    blog = Blog()
    profiler.reset()
    debug.options.COLLECT_PERF_STATS = True
    blog.page([5])
    tasks = [r for r in profiler.flush() if "num_deps" in r]
    assert [r["name"][:6] for r in tasks] == ["000002", "000001"]  # author_name ends first


def test_a_task_lists_the_tasks_and_batch_items_it_waited_on_as_dependencies() -> None:
    blog = Blog()
    profiler.reset()
    debug.options.COLLECT_PERF_STATS = True
    blog.page([1, 2])
    tasks = {
        without_prefix(r["name"]).split("(")[0]: r for r in profiler.flush() if "num_deps" in r
    }
    item = f"{Blog.__module__}.LoggedItem"
    page = tasks["Blog.__init__.<locals>.page"]
    assert page["num_deps"] == 3
    assert page["dependencies"][0] == item  # the viewer's name, yielded first
    assert [without_prefix(d) for d in page["dependencies"][1:]] == [
        "Blog.__init__.<locals>.author_name((1,) {})",
        "Blog.__init__.<locals>.author_name((2,) {})",
    ]
    assert tasks["Blog.__init__.<locals>.author_name"]["dependencies"] == [item, item]


def test_time_taken_leaves_out_what_a_task_ran_synchronously() -> None:
    import time

    @asynq()
    def slow() -> Any:
        time.sleep(0.05)
        if False:
            yield
        return 1

    @asynq()
    def caller() -> Any:
        if False:
            yield
        return slow()  # synchronous: slow's 50 ms are its own, not the caller's

    profiler.reset()
    debug.options.COLLECT_PERF_STATS = True
    caller()
    by_name = {without_prefix(r["name"]).split("(")[0]: r for r in profiler.flush()}
    slow_name = "test_time_taken_leaves_out_what_a_task_ran_synchronously.<locals>.slow"
    caller_name = "test_time_taken_leaves_out_what_a_task_ran_synchronously.<locals>.caller"
    assert by_name[slow_name]["time_taken"] >= 50000
    assert by_name[caller_name]["time_taken"] < by_name[slow_name]["time_taken"]


def test_flush_returns_the_records_once_and_restarts_the_counter() -> None:
    profiler.reset()
    assert profiler.incr_counter() == 1
    assert profiler.incr_counter() == 2
    profiler.append({"custom": True})
    assert profiler.flush() == [{"custom": True}]
    assert profiler.flush() == []
    assert profiler.incr_counter() == 1


def test_reset_drops_the_records() -> None:
    profiler.append("anything")
    profiler.reset()
    assert profiler.flush() == []


def test_turning_the_switch_off_restores_the_plain_scheduler() -> None:
    debug.options.COLLECT_PERF_STATS = True
    assert type(get_scheduler()) is not TaskScheduler
    debug.options.COLLECT_PERF_STATS = False
    assert type(get_scheduler()) is TaskScheduler
    profiler.reset()
    Blog().page([1])
    assert profiler.flush() == []


def test_a_switch_cleared_behind_the_setter_detaches_at_the_next_step() -> None:
    debug.options.COLLECT_PERF_STATS = True
    vars(debug.options)["COLLECT_PERF_STATS"] = False  # as a test fixture restoring options does
    profiler.reset()
    Blog().page([1])
    assert type(get_scheduler()) is TaskScheduler
    assert profiler.flush() == []


def test_records_are_kept_per_thread_and_a_thread_starts_recording_at_reset() -> None:
    blog_here = Blog()
    debug.options.COLLECT_PERF_STATS = True
    profiler.reset()
    seen: list[list[str]] = []

    def worker() -> None:
        profiler.reset()  # what a request handler does first
        blog = Blog()
        blog.page([7])
        seen.append([without_prefix(r["name"]) for r in profiler.flush() if "num_deps" in r])

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    blog_here.page([1])
    assert seen == [
        ["Blog.__init__.<locals>.author_name((7,) {})", "Blog.__init__.<locals>.page(([7],) {})"]
    ]
    mine = [without_prefix(r["name"]) for r in profiler.flush() if "num_deps" in r]
    assert mine == [
        "Blog.__init__.<locals>.author_name((1,) {})",
        "Blog.__init__.<locals>.page(([1],) {})",
    ]


def test_debug_options_keep_asynq_1_6_names() -> None:
    options = debug.options
    assert options.DUMP_ALL() is False
    options.DUMP_ALL(True)
    assert options.DUMP_ALL() is True
    assert options.DUMP_SYNC_CALLS and options.DUMP_FLUSH_BATCH and options.DUMP_SCHEDULE_TASK
    options.DUMP_ALL(False)
    assert (options.STACK_DUMP_LIMIT, options.MAX_TASK_STACK_SIZE) == (10, 1000000)
    assert (options.SCHEDULER_STATE_DUMP_INTERVAL, options.KEEP_DEPENDENCIES) == (1.0, False)
    assert repr(options) == "<asynq debug options: all off>"

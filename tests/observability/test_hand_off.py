"""The scheduler may run the next task without going back through its queue; a trace must still
see every task, start and end."""

from __future__ import annotations

from typing import Any

import asynq
from asynq import TaskScheduler, get_scheduler
from asynq.tracing import trace


@asynq.asynq()
def chain(n: int) -> Any:
    if n == 0:
        return 0
    return (yield chain.asynq(n - 1)) + 1


def test_a_traced_chain_records_every_task_with_its_start_and_end() -> None:
    with trace() as recorded:
        assert chain(20) == 20
    assert len(recorded.tasks) == 21
    assert all(t.start is not None and t.end is not None for t in recorded.tasks)


def test_the_plain_loop_is_back_when_the_trace_ends() -> None:
    with trace():
        chain(3)
    assert type(get_scheduler()) is TaskScheduler
    assert get_scheduler().instruments == ()
    assert chain(200) == 200

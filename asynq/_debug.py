"""Debug switches, read by the scheduler and the decorators (``asynq.debug.options``)."""

from __future__ import annotations

__all__ = ["options", "Options"]


class Options:
    """Global debug switches; all off by default.

    - ``DUMP_SYNC_CALLS``: log every synchronous call of an asynq function made while a task runs
      (it works, but its reads are not batched with anything else).
    - ``DUMP_FLUSH_BATCH``: log every batch flush with its item count.
    - ``COLLECT_PERF_STATS``: record per-task timing in ``asynq.profiler``.
    """

    def __init__(self) -> None:
        self.DUMP_SYNC_CALLS = False
        self.DUMP_FLUSH_BATCH = False
        self.COLLECT_PERF_STATS = False
        self.DEBUG_STR_REPR_MAX_LENGTH = 240

    def __repr__(self) -> str:
        on = [name for name, value in vars(self).items() if value is True]
        return f"<asynq debug options: {', '.join(on) or 'all off'}>"


options = Options()

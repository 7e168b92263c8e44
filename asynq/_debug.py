"""Debug switches, read by the scheduler, the decorators and the profiler (``asynq.debug.options``)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["options", "Options", "DebugOptions"]

# asynq 1.6's switches that this implementation accepts so that code setting or reading them keeps
# working, but that print nothing: its scheduler printed each step; use ``asynq.trace()`` instead.
_COMPAT_DUMPS = (
    "DUMP_PRE_ERROR_STATE",
    "DUMP_EXCEPTIONS",
    "DUMP_SCHEDULE_TASK",
    "DUMP_CONTINUE_TASK",
    "DUMP_SCHEDULE_BATCH",
    "DUMP_DEPENDENCIES",
    "DUMP_COMPUTED",
    "DUMP_NEW_TASKS",
    "DUMP_YIELD_RESULTS",
    "DUMP_QUEUED_RESULTS",
    "DUMP_CONTEXTS",
    "DUMP_SYNC",
    "DUMP_STACK",
    "DUMP_SCHEDULER_STATE",
)


class Options:
    """Global debug switches; all off by default.

    - ``DUMP_SYNC_CALLS``: log every synchronous call of an asynq function made while a task runs
      (it works, but its reads are not batched with anything else).
    - ``DUMP_FLUSH_BATCH``: log every batch flush with its item count.
    - ``COLLECT_PERF_STATS``: record per-task timing in ``asynq.profiler``; setting it attaches or
      detaches the profiler on the calling thread.
    - ``MAX_TASK_STACK_SIZE``: creating a task at the end of a longer chain of tasks, each
      created by the next, raises ``RuntimeError`` (a recursion without a base case).
    - ``DEBUG_STR_REPR_MAX_LENGTH``: where ``debug.str`` and ``debug.repr`` cut.
    - ``ENABLE_COMPLEX_ASSERTIONS``: toggled by ``debug.enable_complex_assertions``.

    The other ``DUMP_*`` names of asynq 1.6, ``SCHEDULER_STATE_DUMP_INTERVAL``,
    ``STACK_DUMP_LIMIT`` and ``KEEP_DEPENDENCIES`` exist for
    compatibility and change nothing; ``asynq.trace()`` shows what they used to print.
    """

    def __init__(self) -> None:
        for name in _COMPAT_DUMPS:
            setattr(self, name, False)
        self.DUMP_SYNC_CALLS = False
        self.DUMP_FLUSH_BATCH = False
        # Stored directly: the property's setter attaches the profiler, which must not happen
        # while asynq is being imported.
        self.__dict__["COLLECT_PERF_STATS"] = False
        self.SCHEDULER_STATE_DUMP_INTERVAL = 1.0
        self.DEBUG_STR_REPR_MAX_LENGTH = 240
        self.STACK_DUMP_LIMIT = 10
        self.__dict__["MAX_TASK_STACK_SIZE"] = 1000000
        self.ENABLE_COMPLEX_ASSERTIONS = True
        self.KEEP_DEPENDENCIES = False

    @property
    def COLLECT_PERF_STATS(self) -> bool:  # noqa: N802 - asynq 1.6 name
        """Whether ``asynq.profiler`` collects per-task records."""
        value: bool = self.__dict__["COLLECT_PERF_STATS"]
        return value

    @COLLECT_PERF_STATS.setter
    def COLLECT_PERF_STATS(self, value: bool) -> None:  # noqa: N802 - asynq 1.6 name
        self.__dict__["COLLECT_PERF_STATS"] = bool(value)
        for callback in _perf_stats_watchers:
            callback(bool(value))

    def watch_perf_stats(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(value)`` each time ``COLLECT_PERF_STATS`` is set, on the setting
        thread (``asynq.profiler`` attaches and detaches itself this way)."""
        if callback not in _perf_stats_watchers:
            _perf_stats_watchers.append(callback)

    @property
    def MAX_TASK_STACK_SIZE(self) -> int:  # noqa: N802 - asynq 1.6 name
        """The longest chain of tasks, each created by the next, before creating one more
        raises ``RuntimeError`` (a recursion without a base case otherwise runs until memory
        runs out)."""
        value: int = self.__dict__["MAX_TASK_STACK_SIZE"]
        return value

    @MAX_TASK_STACK_SIZE.setter
    def MAX_TASK_STACK_SIZE(self, value: int) -> None:  # noqa: N802 - asynq 1.6 name
        from . import async_task

        self.__dict__["MAX_TASK_STACK_SIZE"] = async_task._limits.max_depth = int(value)

    def DUMP_ALL(self, value: bool | None = None) -> bool | None:  # noqa: N802 - asynq 1.6 name
        """With no argument: whether every ``DUMP_*`` switch is on. With a bool: set them all."""
        names = _COMPAT_DUMPS + ("DUMP_SYNC_CALLS", "DUMP_FLUSH_BATCH")
        if value is None:
            return all(getattr(self, name) for name in names)
        for name in names:
            setattr(self, name, bool(value))
        return None

    def __repr__(self) -> str:
        on = [
            name
            for name, value in vars(self).items()
            if value is True and name != "ENABLE_COMPLEX_ASSERTIONS"
        ]
        return f"<asynq debug options: {', '.join(on) or 'all off'}>"


#: Called with the new value whenever COLLECT_PERF_STATS is set (see ``watch_perf_stats``).
_perf_stats_watchers: list[Callable[[bool], None]] = []

DebugOptions = Options
options = Options()

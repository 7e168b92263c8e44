"""AsyncTask: one call of an asynq function, run step by step by the scheduler.

A task is lazy: creating it (``f.asynq(x)``) runs nothing. The scheduler starts it when something
yields it or asks for its ``value()``. All the stepping logic lives in ``scheduler.py``; a task is
mostly state the scheduler reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from contextvars import ContextVar
from operator import attrgetter
from typing import Any, TypeVar

from . import futures

__all__ = ["AsyncTask", "AsyncTaskResult", "AsyncTaskCancelledError"]

_T = TypeVar("_T")

# Task states (``_state``). A task is NEW until first scheduled; STARTED covers ready, running and
# blocked; its result then lives in the future fields.
NEW = 0
STARTED = 1


class AsyncTaskCancelledError(GeneratorExit):
    """Thrown into a task's generator when the task is cancelled."""


class AsyncTaskResult(GeneratorExit):
    """Raised by ``asynq.result(value)``: the legacy way for a generator to return a value."""

    def __init__(self, result: Any) -> None:
        super().__init__(result)
        self.result = result


class ContextStack(tuple[Any, ...]):
    """The contexts a task runs inside, outermost first (a tuple). ``values()`` lists them too,
    for code written against asynq 1.6, which kept them in a dict."""

    __slots__ = ()

    def values(self) -> list[Any]:
        """The contexts, outermost first."""
        return list(self)


_NO_CONTEXTS = ContextStack()

#: The contexts that a task created outside any task starts in; ``contexts_for_new_roots`` (in
#: ``asynq.contexts``) sets it for a block, per thread and per asyncio task.
root_contexts_var: ContextVar[ContextStack] = ContextVar(
    "asynq_root_contexts", default=_NO_CONTEXTS
)
get_root_contexts = root_contexts_var.get


class AsyncTask(futures.FutureBase[_T]):
    """The running or finished call ``fn(*args, **kwargs)`` of an asynq function.

    ``generator`` is the generator object the call produced, or None for a function whose body
    does not yield (it is then called when the task runs, so that creating the task stays lazy).
    """

    __slots__ = (
        "fn",
        "args",
        "kwargs",
        "creator",
        "running",
        "_generator",
        "_state",
        "_pending",
        "_yielded",
        "_shape",
        "contexts",
        "_queue",
        "_depth",
    )

    _shape: int  # set when the task blocks, with _queue
    _queue: Any

    @property
    def _contexts(self) -> tuple[Any, ...]:
        """``contexts``, under the name asynq 1.6 code reads (``task._contexts.values()``)."""
        return self.contexts

    def __init__(
        self,
        generator: Generator[Any, Any, _T] | None,
        fn: Callable[..., Any],
        args: Iterable[object],
        kwargs: Mapping[str, object],
    ) -> None:
        self._value = None
        self._error = None
        self._computed = False
        self._waiters = None
        self._on_computed = None
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.running = False
        self._generator = generator
        self._state = NEW
        self._pending = 0
        self._yielded: object = None
        # ``_shape`` and ``_queue`` are set by the scheduler when the task blocks, the only time
        # they are read: how to resume it, and which ready queue wakes it (its own thread's).
        creator = _thread_state.scheduler.active_task
        self.creator: AsyncTask[Any] | None = creator
        # ``_depth``: how many creators up to a task created outside any task. A runaway
        # recursion grows it without bound; past the limit it is an error, not a hung process.
        if creator is None:
            #: The contexts the task runs inside, outermost first (a ``ContextStack``, a tuple):
            #: read-only outside the kernel; a ``with`` block in the task replaces it.
            self.contexts: tuple[Any, ...] = get_root_contexts()
            self._depth = 0
        else:
            self.contexts = creator.contexts
            depth = self._depth = creator._depth + 1
            if depth >= _limits.max_depth:
                raise RuntimeError(_too_deep_message(self))

    # -- inspection ----------------------------------------------------------------------------

    def can_continue(self) -> bool:
        """Whether the task is started, not finished and waits on nothing."""
        return self._state == STARTED and not self._computed and self._pending == 0

    @property
    def _dependencies(self) -> set[futures.FutureBase[Any]]:
        """The uncomputed futures the task waits on (empty unless it is blocked); the name of
        asynq 1.6's field, for code that reads it."""
        waiting: set[futures.FutureBase[Any]] = set()
        if self._pending:
            pending: list[Any] = [self._yielded]
            while pending:
                item = pending.pop()
                if type(item) in (list, tuple):
                    pending.extend(item)
                elif type(item) is dict:
                    pending.extend(item.values())
                elif isinstance(item, futures.FutureBase) and not item._computed:
                    waiting.add(item)
        return waiting

    # Read by instruments after every step: through a C getter, so no Python frame per read.
    blocked_on = property(
        attrgetter("_yielded"),
        doc="""What the task's last ``yield`` handed to the scheduler, while the task waits for
        it (a future, or a list, tuple or dict of futures, nested); None when it does not wait
        (not started, running or finished). Read-only; instruments read it after a step (see
        ``asynq.instruments``).""",
    )

    def is_blocked(self) -> bool:
        """Whether the task waits on futures that are not computed yet."""
        return self._pending > 0

    def call_str(self) -> str:
        """``module.fn(arg, kw=value)``, arguments shortened."""
        name = getattr(self.fn, "__qualname__", None) or getattr(self.fn, "__name__", repr(self.fn))
        parts = [futures._short_repr(a, 40) for a in self.args]
        parts += [f"{k}={futures._short_repr(v, 40)}" for k, v in self.kwargs.items()]
        return f"{name}({', '.join(parts)})"

    def _state_str(self) -> str:
        if self._computed:
            return super()._state_str()
        if self.running:
            return "running"
        if self._state == NEW:
            return "not started"
        if self._pending:
            return f"waiting on {self._pending} future(s)"
        return "ready"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.call_str()} {self._state_str()}>"

    to_str = __repr__

    def traceback(self) -> list[str]:
        """Where the task's generator is suspended, as ``File "...", line N, in fn`` lines."""
        frame = getattr(self._generator, "gi_frame", None)
        if frame is None:
            return []
        code = frame.f_code
        return [f'File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}']

    def dump(self, indent: int = 0) -> None:
        """Print the task, where it is suspended and what created it."""
        pad = " " * indent
        print(pad + repr(self))
        for line in self.traceback():
            print(pad + "  " + line)
        if self.creator is not None:
            print(pad + "  created by " + repr(self.creator))


def _too_deep_message(task: AsyncTask[Any]) -> str:
    return (
        f"asynq task stack too deep: creating {task.call_str()} would make a chain of "
        f"{task._depth + 1} tasks, each created by the next, which is more than "
        f"debug.options.MAX_TASK_STACK_SIZE ({_limits.max_depth}). This is usually a recursion "
        "without a base case; if the depth is intended, raise the limit"
    )


class _Limits:
    """Limits the hot path reads; kept in step with ``asynq.debug.options`` by its setters."""

    max_depth = 1_000_000


_limits = _Limits()

# The per-thread state object (``.scheduler``) of scheduler.py, set when that module loads.
_thread_state: Any = None

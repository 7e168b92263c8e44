"""Running asynq work from asyncio code, batched across every coroutine of the event loop.

``f.asyncio(x)`` returns a coroutine. Awaiting it hands the root task to the *driver* of the
running event loop: one per loop, started on demand, finished as soon as nothing awaits asynq work.
A driver repeats one cycle:

1. admit the roots registered since the last cycle (``scheduler.schedule``) and run every task that
   can make progress (``run_ready``), on the loop's thread;
2. resume the coroutines whose roots are computed, then let the loop turn a few times so that every
   coroutine about to await asynq work registers its roots and joins this round;
3. take the round's batches and flush them on a flush thread (one per event-loop thread, so a
   client that keeps a connection per thread keeps one), so that blocking client I/O never stalls
   the loop: other coroutines keep running during a flush.

So all asynq work awaited in one event loop shares rounds: a hundred concurrent requests for a graph
of depth D cost D flushes, not a hundred times D.

Rules that keep this safe:

- While a flush runs on the flush thread, the loop thread runs no asynq task. New roots wait in the
  inbox; ``check_sync_call`` makes a synchronous asynq call on the loop thread wait for the flush.
- *Asyncio mode* (``is_asyncio_mode()``) is a context variable set only in the driver's own
  context, so it is true exactly while asynq code runs for an ``await f.asyncio(...)``. It is never
  process-global: other asyncio tasks, and other threads, are not in asyncio mode.
- A synchronous call of an asynq function in asyncio mode would block the loop and break batching;
  ``check_sync_call`` raises ``AsyncioModeError`` naming the function and the fix.
- Cancelling a coroutine that awaits asynq work withdraws its root. Work shared with roots that are
  still awaited goes on; once nothing awaits the loop's asynq work, whatever is left is cancelled
  (pending batches fail their items with ``asyncio.CancelledError``, the abandoned tasks finish with
  it), so nothing stays pending.
- Asynq code run from asyncio can also wait for a native awaitable: ``yield from_awaitable(coro)``,
  or simply ``yield coro`` (awaitables, alone or in lists, tuples and dicts, are accepted in
  asyncio mode). There, ``f.asynq(...)`` of a function declared with ``asyncio_fn=`` runs that
  coroutine function instead of the generator, as asynq 1.6 does.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .async_task import AsyncTask
from .batching import BatchBase, BatchItemBase
from .futures import Future, FutureBase
from .lowlevel import close_batch, register_asyncio_bridge, set_sync_call_check, short_repr
from .scheduler import AsyncTaskError, TaskScheduler, add_yield_adapter, get_scheduler

__all__ = [
    "AsyncioModeError",
    "check_sync_call",
    "drain",
    "from_awaitable",
    "is_asyncio_mode",
    "resolve_in_asyncio",
    "run_on_flush_thread",
]

_T = TypeVar("_T")

#: How often the driver lets the loop turn before a flush (more turns while new roots arrive).
MIN_TURNS = 2
MAX_TURNS = 16
#: Passes of cancel-and-run when the driver goes idle with abandoned work left.
_MAX_CLEANUP_PASSES = 100

_mode: contextvars.ContextVar[bool] = contextvars.ContextVar("asynq_asyncio_mode", default=False)


class AsyncioModeError(RuntimeError):
    """An asynq feature was used the wrong way round with respect to asyncio mode."""


def is_asyncio_mode() -> bool:
    """Whether the calling code is asynq work run for an ``await f.asyncio(...)``.

    Per asyncio task (a context variable): coroutines, other asyncio tasks and other threads see
    False unless they are themselves running asynq work for an ``.asyncio()`` call.
    """
    return _mode.get()


# -- the synchronous-call check ----------------------------------------------------------------


class _ThreadState(threading.local):
    def __init__(self) -> None:
        # Set while the driver of this thread's loop is flushing: the flush's "done" event.
        self.flushing: threading.Event | None = None
        # One flush thread per event-loop thread: flushes of a loop never overlap, and clients
        # that keep a connection per thread keep one connection, not one per pool thread.
        self.flush_executor: ThreadPoolExecutor | None = None

    def executor(self) -> ThreadPoolExecutor:
        executor = self.flush_executor
        if executor is None:
            executor = self.flush_executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="asynq-flush"
            )
        return executor


_thread = _ThreadState()


def check_sync_call(fn: object) -> None:
    """Vet a synchronous call of the asynq function ``fn`` (the hook for ``f(x)``).

    In asyncio mode it raises ``AsyncioModeError``: the call would block the event loop and could
    not batch with anything. Elsewhere, on a thread whose event loop is flushing asynq batches,
    it waits for the flush to end, so that the call never runs tasks concurrently with it.
    """
    if not _drivers:  # no event loop is running asynq work: nothing to check
        return
    if _mode.get():
        raise AsyncioModeError(_sync_call_message(fn))
    flushing = _thread.flushing
    if flushing is not None:
        flushing.wait()


async def run_on_flush_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """Run the blocking call ``fn(*args)`` on the running loop's flush thread, after any flush
    in progress, and return its result; the loop keeps running meanwhile.

    For client I/O that belongs with the loop's batches: a client that keeps a connection per
    thread uses the connection its rounds use. A cancelled caller does not stop the call."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_thread.executor(), fn, *args)


def _fn_name(fn: object) -> str:
    if isinstance(fn, AsyncTask):  # the hook may also sit where a task's value is awaited
        fn = fn.fn
    decorator = getattr(fn, "decorator", None)  # a bound method's binder
    target = decorator if decorator is not None else fn
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    return name if isinstance(name, str) else short_repr(fn, 60)


def _sync_call_message(fn: object) -> str:
    name = _fn_name(fn)
    return (
        f"{name} was called synchronously in asyncio mode (asynq code running for an "
        f"`await ....asyncio(...)`); a synchronous call would block the event loop and could not "
        f"batch with the work around it. Inside an @asynq() function write "
        f"`yield {name}.asynq(...)`; in a coroutine write `await {name}.asyncio(...)`"
    )


# -- awaiting asynq work ------------------------------------------------------------------------


async def resolve_in_asyncio(future: FutureBase[_T]) -> _T:
    """Compute ``future`` (usually a task from ``f.asynq(...)``) for an ``await`` in asyncio code.

    Its tasks run on the event loop's thread and batch with all other asynq work awaited in the
    same loop; batches flush on a flush thread while the loop goes on.
    """
    if not future.is_computed():
        if isinstance(future, (AsyncTask, BatchItemBase, BatchBase)):
            await _await_driven(future)
        elif isinstance(future, Future):
            future.error()  # computes it: a plain value provider, nothing to batch
        else:
            await _await_external(future)
    error = future.error()
    if error is not None:
        raise error
    return future.value()


async def _await_driven(root: FutureBase[Any]) -> None:
    loop = asyncio.get_running_loop()
    driver = _drivers.get(loop)
    if driver is None:
        driver = _add_driver(loop)
    waiter = loop.create_future()
    entry = _Entry(root, waiter)
    driver.add(entry)
    try:
        await waiter
    except asyncio.CancelledError:
        driver.forget(entry)
        raise


async def _await_external(future: FutureBase[Any]) -> None:
    """Wait for a future that only outside code computes (it may be set from any thread)."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def computed(_: object) -> None:
        loop.call_soon_threadsafe(_set_if_pending, waiter)

    hook = future.on_computed
    hook.subscribe(computed)
    try:
        await waiter
    finally:
        future.on_computed.unsubscribe(computed)


def _set_if_pending(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def drain() -> None:
    """Wait until the running loop's asynq driver is idle: nothing awaited, nothing pending."""
    loop = asyncio.get_running_loop()
    while True:
        driver = _drivers.get(loop)
        if driver is None or driver.task is None:
            return
        await asyncio.wait([driver.task])


def from_awaitable(awaitable: Awaitable[_T]) -> FutureBase[_T]:
    """A future for a native awaitable, to ``yield`` from asynq code running in asyncio mode.

    ``page = yield from_awaitable(http.get(url))``. The awaitable runs as an asyncio task of the
    same loop (outside asyncio mode); the asynq task resumes with its result once it is done.
    """
    if not _mode.get():
        if asyncio.iscoroutine(awaitable):
            awaitable.close()  # it will never run; avoid the "never awaited" warning
        raise AsyncioModeError(
            f"from_awaitable() got {short_repr(awaitable, 60)} outside asyncio mode; it only "
            "works in asynq code run by `await f.asyncio(...)`, where an event loop drives the "
            "tasks. In synchronous code, compute the value before calling the asynq function; "
            "in a coroutine, await it directly"
        )
    if not isinstance(awaitable, Awaitable):
        raise TypeError(
            f"from_awaitable() expects an awaitable (a coroutine, task or future), got "
            f"{type(awaitable).__name__}: {short_repr(awaitable, 60)}; for a plain value "
            "use ConstFuture(value)"
        )
    driver = _drivers[asyncio.get_running_loop()]
    future: _AwaitableFuture[_T] = _AwaitableFuture()
    context = contextvars.copy_context()
    context.run(_mode.set, False)
    task = context.run(asyncio.ensure_future, awaitable)
    future._task = task
    driver.external.add(future)
    task.add_done_callback(lambda done: driver.external_done(future, done))
    return future


def _awaitables_as_futures(yielded: Any) -> Any:
    """In asyncio mode, ``yielded`` with every native awaitable in it replaced by
    ``from_awaitable(awaitable)``; None outside asyncio mode or when there is none."""
    if not _mode.get():
        return None
    found = False

    def convert(value: Any) -> Any:
        nonlocal found
        cls = type(value)
        if cls is list or cls is tuple:
            items = [convert(item) for item in value]
            return items if cls is list else tuple(items)
        if cls is dict:
            return {key: convert(item) for key, item in value.items()}
        if not isinstance(value, FutureBase) and isinstance(value, Awaitable):
            found = True
            return from_awaitable(value)
        return value

    converted = convert(yielded)
    return converted if found else None


add_yield_adapter(_awaitables_as_futures)


class _AwaitableFuture(FutureBase[_T]):
    """A future that an asyncio task computes (see ``from_awaitable``)."""

    __slots__ = ("_task",)

    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Future[Any] | None = None


# -- the driver ------------------------------------------------------------------------------------


class _Entry:
    """One ``await`` of asynq work: the root future and the asyncio future the coroutine awaits."""

    __slots__ = ("root", "waiter")

    def __init__(self, root: FutureBase[Any], waiter: asyncio.Future[None]) -> None:
        self.root = root
        self.waiter = waiter


_drivers: dict[asyncio.AbstractEventLoop, _Driver] = {}
_drivers_lock = threading.Lock()


#: the sync-call check that was installed when the first driver started; it keeps being called
#: while drivers run, and is put back when the last one ends
_check_before: Callable[[object], None] | None = None


def _check_then_previous(fn: object) -> None:
    """The sync-call check while drivers run: ours, then the one installed before them."""
    check_sync_call(fn)
    previous = _check_before
    if previous is not None:
        previous(fn)


def _add_driver(loop: asyncio.AbstractEventLoop) -> _Driver:
    """A driver for ``loop``; while any exists, synchronous asynq calls are vetted."""
    global _check_before
    with _drivers_lock:
        if not _drivers:
            _check_before = set_sync_call_check(_check_then_previous)
        driver = _drivers[loop] = _Driver(loop)
    return driver


def _remove_driver(driver: _Driver) -> None:
    global _check_before
    with _drivers_lock:
        if _drivers.get(driver.loop) is driver:
            del _drivers[driver.loop]
        if not _drivers:
            replaced = set_sync_call_check(_check_before)
            if replaced is not _check_then_previous:
                # someone installed their own check while loops ran: it stays theirs
                set_sync_call_check(replaced)
            _check_before = None


class _Driver:
    """Runs the asynq work awaited in one event loop (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.scheduler: TaskScheduler = get_scheduler()
        self.inbox: list[_Entry] = []
        self.waiting: list[_Entry] = []
        self.task: asyncio.Task[None] | None = None
        self.external: set[_AwaitableFuture[Any]] = set()
        self.external_results: list[tuple[_AwaitableFuture[Any], asyncio.Future[Any]]] = []
        self.wake: asyncio.Event | None = None
        self.flush_done = threading.Event()
        self.flush_done.set()
        self.rounds = 0

    # -- called by awaiting coroutines (loop thread) ------------------------------------------

    def add(self, entry: _Entry) -> None:
        self.inbox.append(entry)
        if self.task is None:
            self._start()
        elif self.wake is not None:
            self.wake.set()

    def forget(self, entry: _Entry) -> None:
        for queue in (self.inbox, self.waiting):
            if entry in queue:
                queue.remove(entry)
        if self.wake is not None:
            self.wake.set()

    def external_done(self, future: _AwaitableFuture[Any], done: asyncio.Future[Any]) -> None:
        # Applied by the driver between flushes, never while a flush is running.
        self.external_results.append((future, done))
        if self.wake is not None:
            self.wake.set()

    # -- the cycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        # An empty context: asynq code of all callers runs here, so it must not see the context
        # variables of whichever coroutine happened to start the driver.
        self.task = contextvars.Context().run(
            self.loop.create_task, self._drive(), name="asynq asyncio driver"
        )

    async def _drive(self) -> None:
        _mode.set(True)
        self.wake = asyncio.Event()
        try:
            while True:
                self._step()
                if not self.waiting:
                    break
                await self._let_others_join()
                if self.inbox:
                    continue
                if not self.waiting:
                    break
                batches = self.scheduler.take_batches()
                if batches:
                    await self._flush(batches)
                elif self.external or self.external_results:
                    await self._wait_for_wake()
                else:
                    self._fail_stuck()
        except Exception as error:  # noqa: BLE001 - delivered to every awaiting coroutine
            self._fail_all(error)
        except BaseException as error:  # cancelled by the loop (shutdown), KeyboardInterrupt...
            self._fail_all(error)
            raise
        finally:
            self._cancel_abandoned()
            self.task = None
            self.wake = None
            if self.inbox:
                self._start()  # registered while the driver was shutting down
            else:
                _remove_driver(self)

    def _step(self) -> None:
        """Admit new roots, apply finished awaitables, run what can run, resume finished roots."""
        if self.external_results:
            self._apply_external_results()
        inbox = self.inbox
        if inbox:
            self.inbox = []
            schedule = self.scheduler.schedule
            for entry in inbox:
                if entry.waiter.done():
                    continue
                try:
                    schedule(entry.root)
                except Exception as error:  # noqa: BLE001 - that root's failure only
                    entry.waiter.set_exception(error)
                    continue
                self.waiting.append(entry)
        self.scheduler.run_ready()
        self._settle()

    def _settle(self) -> None:
        keep: list[_Entry] = []
        for entry in self.waiting:
            root = entry.root
            waiter = entry.waiter
            if waiter.done():
                continue
            if root.is_computed():
                waiter.set_result(None)  # the coroutine reads the root's value or error
            else:
                keep.append(entry)
        self.waiting = keep

    async def _let_others_join(self) -> None:
        """Let the loop turn so that coroutines about to await asynq work join this round."""
        for turn in range(MAX_TURNS):
            await asyncio.sleep(0)
            if self.inbox or self.external_results:
                self._step()
            elif turn + 1 >= MIN_TURNS:
                return

    async def _flush(self, batches: list[BatchBase[Any]]) -> None:
        """Flush one round on the flush thread; the loop thread runs no asynq task meanwhile."""
        for batch in batches:
            # Close each batch to new items on the thread that creates them: a batch kind may
            # keep its active batch in thread-local state.
            try:
                close_batch(batch)
            except Exception:  # noqa: BLE001 - flush_batches meets it again and fails the items
                pass
        self.rounds += 1
        self.flush_done.clear()
        _thread.flushing = self.flush_done
        try:
            running = self.loop.run_in_executor(_thread.executor(), self._flush_in_thread, batches)
            try:
                await asyncio.shield(running)
            except asyncio.CancelledError:
                # A thread cannot be interrupted: let the flush end before anything else runs.
                while not running.done():
                    try:
                        await asyncio.shield(running)
                    except asyncio.CancelledError:
                        pass
                raise
        finally:
            _thread.flushing = None

    def _flush_in_thread(self, batches: list[BatchBase[Any]]) -> None:
        try:
            self.scheduler.flush_batches(batches)
        except BaseException as error:  # noqa: BLE001 - the unflushed items carry it
            for batch in batches:
                if not batch.is_flushed():
                    batch.cancel(error)
        finally:
            self.flush_done.set()

    async def _wait_for_wake(self) -> None:
        wake = self.wake
        assert wake is not None
        wake.clear()  # nothing can set it between the caller's checks and here: no await
        await wake.wait()

    def _apply_external_results(self) -> None:
        results, self.external_results = self.external_results, []
        for future, done in results:
            self.external.discard(future)
            if future.is_computed():
                continue
            if done.cancelled():
                future.set_error(asyncio.CancelledError(f"{done!r} was cancelled"))
            elif done.exception() is not None:
                future.set_error(done.exception())  # type: ignore[arg-type]
            else:
                future.set_value(done.result())

    def _fail_stuck(self) -> None:
        for entry in self.waiting:
            if not entry.waiter.done():
                entry.waiter.set_exception(
                    AsyncTaskError(
                        f"{entry.root!r}, awaited from asyncio, can never be computed: no task "
                        "can run, no batch is pending and no awaitable is in flight. Either tasks "
                        "wait on each other in a cycle, or on a future that only outside code "
                        "sets (set its value before awaiting)"
                    )
                )
        self.waiting = []

    def _fail_all(self, error: BaseException) -> None:
        for entry in self.inbox + self.waiting:
            if entry.waiter.done():
                continue
            if isinstance(error, asyncio.CancelledError):
                entry.waiter.cancel("the event loop cancelled the asynq driver")
            else:
                _set_exception(entry.waiter, error)
        self.inbox = []
        self.waiting = []

    def _cancel_abandoned(self) -> None:
        """Nothing awaits the remaining work: fail it with CancelledError and let it finish."""
        if self.external_results:
            self._apply_external_results()
        error = asyncio.CancelledError(
            "asynq work abandoned: every asyncio task that awaited it was cancelled"
        )
        scheduler = self.scheduler
        for _ in range(_MAX_CLEANUP_PASSES):
            try:
                scheduler.run_ready()  # tasks a last flush woke up, or that a cancellation failed
            except Exception:  # noqa: BLE001 - abandoned work; the scheduler cleared itself
                return
            batches = scheduler.take_batches()
            externals = list(self.external)
            if not batches and not externals:
                return
            self.external.clear()
            for future in externals:
                if future._task is not None:
                    future._task.cancel()
                if not future.is_computed():
                    future.set_error(error)
            for batch in batches:
                batch.cancel(error)


def _set_exception(waiter: asyncio.Future[None], error: BaseException) -> None:
    if isinstance(error, StopIteration):  # asyncio futures refuse StopIteration
        wrapped = RuntimeError(f"asynq task raised {error!r}")
        wrapped.__cause__ = error
        error = wrapped
    waiter.set_exception(error)


# The kernel calls this module's is_asyncio_mode, from_awaitable and resolve_in_asyncio through
# this registration; it never imports the module.
register_asyncio_bridge(sys.modules[__name__])

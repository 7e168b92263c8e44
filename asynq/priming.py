"""Legacy priming: the way model code batched memcached reads before asynq.

Legacy code reads values with plain calls (``name_of_user(uid)``) and, before reading, *primes*
what it will need so that one multi-get fetches it all:

    prime_name_of_user = name_of_user.prime          # an alias: records the key, no I/O

    def prime_page(aids):                            # a hand-written priming function
        for aid in aids:
            prime_upvoter_names(aid)

    @priming.generator                               # needs values to decide what to prime
    def prime_upvoter_names(aid):
        upvoters_of_answer.prime(aid)
        yield                                        # the pending keys are fetched here
        for uid in upvoters_of_answer(aid):          # served from the request-local cache
            prime_name_of_user(uid)

The runtime's rules (the contract ``asynq-migrate`` relies on):

- ``f.prime(x)`` records the key of ``f(x)`` as pending in the current request scope; no I/O.
- Calling a ``@priming.generator`` function records its generator; nothing runs yet.
- The recorded work is driven when it is needed: by the first plain read of a cached function or
  ``mc.get``/``mc.get_many`` that follows (and by ``priming.drive()``). Driving runs every recorded
  generator until it yields or ends (generators recorded meanwhile join the same round), fetches
  all pending keys with one multi-get per client (all clients in the same round), resumes the
  generators that yielded, and repeats until no generator is left and no key is pending.
  The outermost call drives everything; calls made while driving only record.
- A key that was fetched and missed is computed by the plain read that needs it (no second
  fetch), and its value is written back with the next multi-get or when driving ends.

Priming and asynq code live in one program while it is being migrated:

- ``priming.prime(f, x)`` on an ``@asynq()`` function records the task ``f.asynq(x)``; driving
  runs the recorded tasks together with the recorded keys and generators, so their reads share
  the same multi-gets, and leaves their values in the request-local cache for the plain call
  ``f(x)`` that follows. ``prime_f = priming.primer(f)`` is the twin of such a function (for a
  cached function, ``f.prime`` is).
- A synchronous call of an ``@asynq()`` function first drives what was primed, as a plain read
  of a cached function does.
- Reads of the keys priming fetches never see its raw fetches: an asynq reader of a key a cached
  body primed gets the value (or computes it), not a missing-key marker.

Priming done inside a running ``@asynq()`` task (a converted function that still calls a twin)
is not left for a later plain read: it joins the task's own rounds.

- ``f.prime(x)`` inside a task fetches the key with the next round of the scheduler, in the same
  multi-get as the task's next read (a key already cached or being read is not asked again).
- ``priming.prime(f, x)`` of an ``@asynq()`` function inside a task starts ``f.asynq(x)`` at once.
- A ``@priming.generator`` called inside a task runs its first stage at once (so its keys, and
  the first keys of the generators it calls, are part of that next round). The generators a
  task calls, with those their stages call, form a tree whose later stages run in a task of its
  own, all together after the round that fetched what their stages before primed (as
  ``drive()`` advances recorded generators), alongside the caller. While a stage runs, the
  tasks that called generators, and those they started, are held (``TaskScheduler.hold``): a
  stage's plain reads may run the scheduler, and the callers' plain reads must come after what
  the stage primes. An error in a later stage is raised by the next synchronous read or
  ``drive()``.

Priming keeps values in the client's request scope (``with mc.request():``). Outside any
request, the first priming call opens one (a ``request_roots.RequestStorage``), current on the
thread until ``priming.end_request()``.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from . import decorators
from .async_task import AsyncTask
from .lowlevel import AWAITING_TASK, set_before_sync_call
from .lowlevel import thread_state as _scheduler_state
from .request_roots import RequestStorage
from .scheduler import get_active_task, get_scheduler

if TYPE_CHECKING:
    from .futures import FutureBase
    from .memcache.cached import CachedFunction
    from .memcache.client import MemcacheClient
    from .memcache.request import RequestScope
    from .scheduler import TaskScheduler

__all__ = [
    "generator",
    "drive",
    "driving",
    "end_request",
    "pending",
    "in_task",
    "reads_pending",
    "is_priming_generator",
    "prime",
    "primer",
    "open_request",
    "record_key",
    "register_cached_type",
]

_F = TypeVar("_F", bound=Callable[..., Any])


#: What a stage's priming started: the future, and for a primed key its scope and key.
_Started = tuple["FutureBase[Any]", "RequestScope | None", "str | None"]


class _Tree:
    """The priming generators called inside one running task, with those their stages call:
    they advance together, one stage each per round, as ``drive()`` advances recorded ones."""

    __slots__ = ("owner", "suspended", "started")

    def __init__(self, owner: AsyncTask[Any] | None) -> None:
        self.owner = owner  # the task that called the first generator
        self.suspended: list[Generator[Any, Any, Any]] = []  # to resume after the next round
        self.started: list[_Started] = []  # what the last stages primed (the next round)


class _Session:
    """The priming work recorded on one thread (see ``_here``)."""

    def __init__(self) -> None:
        self.generators: list[Generator[Any, Any, Any]] = []
        self.tasks: list[AsyncTask[Any]] = []  # primed asynq calls, not yet scheduled
        self.scopes: dict[RequestScope, None] = {}  # scopes with pending keys
        self.legacy: RequestStorage | None = None  # the request priming opened
        self.driving = False
        # While drive() runs a generator's stage: its priming is recorded, not scheduled.
        self.in_stage = False
        # While stages run inside a task: the futures their priming started (what the next
        # round fetches), innermost last, and the trees they belong to.
        self.collecting: list[list[_Started]] = []
        self.advancing: list[_Tree] = []
        # Errors of later stages run inside tasks, raised by the next drive().
        self.errors: list[BaseException] = []
        # The tasks that advance the trees of generators called inside tasks, and how many
        # stages run right now (while one does, its plain reads only read).
        self.stages: dict[AsyncTask[None], _Tree] = {}
        self.in_stages = 0
        # What each stage task waits for: one waiting for a key that another task computes is
        # never waited for by a plain read, which may be that very computation.
        self.on_computes: dict[AsyncTask[Any], list[FutureBase[Any]]] = {}

    def stages_pending(self) -> bool:
        if not self.stages or self.in_stages:
            return False
        for task in [task for task in self.stages if task.is_computed()]:
            del self.stages[task]
        return any(self.can_wait_for(task) for task in self.stages)

    def can_wait_for(self, task: AsyncTask[Any]) -> bool:
        if task.is_computed() or task.running:
            return False
        waits = self.on_computes.get(task)
        return waits is None or not any(_computing(future) for future in waits)

    def pending(self) -> bool:
        return (
            bool(self.generators or self.scopes or self.tasks or self.errors)
            or self.stages_pending()
        ) and not self.driving

    def in_task(self) -> bool:
        """Whether priming now joins the running task's rounds instead of being recorded."""
        return _scheduler_state.scheduler.active_task is not None and not self.in_stage


# The sessions live in a plain threading.local, read once per call: a subclass's attributes
# are much slower to read, and the session is read on every prime and plain read.
_threads = threading.local()


def _here() -> _Session:
    """This thread's priming session (created on first use)."""
    try:
        session: _Session = _threads.session
    except AttributeError:
        session = _threads.session = _Session()
    return session


def _computing(future: FutureBase[Any]) -> bool:
    """Whether ``future`` is a read whose value a task computes now (a key that missed)."""
    return not future.is_computed() and getattr(future, "batch", None) is AWAITING_TASK


def _drive_if_pending() -> None:
    """Before a synchronous call of an ``@asynq()`` function: run what was primed first."""
    if _here().pending():
        drive()


_hooked = False


def _recorded() -> None:
    """Something was primed: from now on, synchronous asynq calls drive priming first."""
    global _hooked
    if not _hooked:
        _hooked = True
        set_before_sync_call(_drive_if_pending)


def pending() -> bool:
    """Whether priming work is recorded and not yet driven on this thread."""
    return _here().pending()


def in_task() -> bool:
    """Whether priming called now joins the running ``@asynq()`` task's rounds (it does inside a
    task, except while ``drive()`` runs a priming generator's stage) instead of being recorded."""
    return _here().in_task()


def reads_pending() -> bool:
    """Whether priming generators or primed keys wait to be driven on this thread (what a
    plain read of a cached function drives first)."""
    try:
        session = _threads.session
    except AttributeError:
        return False  # nothing was ever primed on this thread
    if session.driving:
        return False
    # Checked on every plain read of a cached function: the usual answers first, no call.
    if session.generators or session.scopes or session.errors:
        return True
    return bool(session.stages) and session.stages_pending()


def driving() -> bool:
    """Whether priming is being driven on this thread (calls made meanwhile only record)."""
    return _here().driving


# The classes of cached functions (``asynq.memcache`` registers its own when imported).
_cached_types: tuple[type, ...] = ()


def register_cached_type(cls: type) -> None:
    """Make ``priming.prime(f, ...)`` and ``priming.primer(f)`` accept instances of ``cls``
    as cached functions (they have ``prime(*args, **kwargs)``)."""
    global _cached_types
    if not isinstance(cls, type) or not callable(getattr(cls, "prime", None)):
        raise TypeError(
            f"register_cached_type() expects a class with a prime(*args) method, got "
            f"{type(cls).__name__}: {cls!r}"
        )
    if cls not in _cached_types:
        _cached_types = (*_cached_types, cls)


def generator(fn: _F) -> _F:
    """Mark a priming function that ``yield``\\ s to have the keys it primed fetched.

    Calling it records the generator (nothing runs); the work is driven with everything else
    recorded (see the module docstring). It returns None.
    """
    if not inspect.isgeneratorfunction(fn):
        name = getattr(fn, "__qualname__", repr(fn))
        raise TypeError(
            f"@priming.generator expects a generator function (one with `yield`), got "
            f"{name}; a priming function that needs no values is a plain function calling "
            "f.prime(...), without the decorator"
        )

    @functools.wraps(fn)
    def record(*args: Any, **kwargs: Any) -> None:
        session = _here()
        if session.in_task():
            _run_in_task(fn(*args, **kwargs))
            return
        session.generators.append(fn(*args, **kwargs))
        _recorded()

    record.is_priming_generator = True  # type: ignore[attr-defined]
    return record  # type: ignore[return-value]


def is_priming_generator(fn: object) -> bool:
    """Whether ``fn`` was decorated with ``@priming.generator``."""
    return getattr(fn, "is_priming_generator", False) is True


def prime(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Record that ``fn(*args, **kwargs)`` will be called soon; no I/O now.

    For a cached function this is ``fn.prime(*args)``; for an ``@asynq()`` function it records
    the task ``fn.asynq(*args)``, which the next priming round runs with everything else primed.
    """
    if _is_asynq(fn):
        task = fn.asynq(*args, **kwargs)  # type: ignore[attr-defined]
        session = _here()
        if session.in_task():
            get_scheduler().schedule(task)
            if session.driving:
                session.tasks.append(task)  # drive() waits for it as for the tasks it runs
            return
        session.tasks.append(task)
        _recorded()
    else:
        _cached(fn).prime(*args, **kwargs)


def primer(fn: Callable[..., Any]) -> Callable[..., None]:
    """The priming twin of ``fn``: ``prime_f = priming.primer(f)`` makes ``prime_f(x)`` record
    ``f(x)`` as :func:`prime` does (keeps legacy callers of a migrated function batching)."""
    if not _is_asynq(fn):
        return _cached(fn).prime

    @functools.wraps(fn)
    def prime_fn(*args: Any, **kwargs: Any) -> None:
        prime(fn, *args, **kwargs)

    return prime_fn


def _is_asynq(fn: object) -> bool:
    return isinstance(fn, (decorators.AsyncDecorator, decorators.AsyncDecoratorBinder))


def _cached(fn: object) -> Any:
    if isinstance(fn, _cached_types):
        return fn
    kind = type(fn).__name__
    name = getattr(fn, "__name__", None) or repr(fn)
    raise TypeError(
        f"priming.prime expects a cached function (@mc.cached) or an @asynq() function, got "
        f"{kind} {name}; call its priming twin instead, or decorate it"
    )


def record_key(scope: RequestScope, key: str, cached: CachedFunction[Any] | None = None) -> None:
    """``f.prime(x)``: remember ``key`` (of the cached function ``cached``; None for a raw
    key) in the request scope ``scope`` (its client's in the current request, or in
    ``open_request()``'s) until priming is driven.

    Inside a running task the key is fetched with the task's next round instead (``scope`` is
    then the running task's: ``in_task()`` tells the caller which to pass)."""
    session = _here()
    if not session.in_stage and _scheduler_state.scheduler.active_task is not None:  # in_task()
        _fetch_in_task(scope, key, cached)
        return
    if key in scope.values or key in scope.inflight:
        return
    scope.prime_keys[key] = cached
    session.scopes[scope] = None
    if not _hooked:
        _recorded()


def _fetch_in_task(scope: RequestScope, key: str, cached: CachedFunction[Any] | None) -> None:
    """``f.prime(x)`` inside a task: the key joins the next round (the running task's scope)."""
    from .memcache.batch import primed_read

    if key in scope.values:
        return
    future = scope.inflight.get(key)
    if future is None:
        future = primed_read(scope, key, cached)
        get_scheduler().schedule(future)
    collecting = _here().collecting
    if collecting:
        collecting[-1].append((future, scope, key))


def _run_in_task(gen: Generator[Any, Any, Any]) -> None:
    """A priming generator called inside a task: its first stage now, so that what it primes
    joins the task's next round; its later stages with those of the other generators of its
    tree (those called by the same task and by their stages), one stage each per round."""
    session = _here()
    if session.advancing:
        # Called by a stage: the generator joins that stage's tree and round.
        tree = session.advancing[-1]
        if _advance(gen):
            tree.suspended.append(gen)
        return
    tree = _Tree(get_active_task())
    _advance_stage(tree, [gen])
    if not tree.suspended:
        return
    task: AsyncTask[None] = AsyncTask(_later_stages(tree), _later_stages, (gen,), {})
    get_scheduler().schedule(task)
    session.stages[task] = tree
    _recorded()


def _advance_stage(tree: _Tree, runnable: list[Generator[Any, Any, Any]]) -> None:
    """Run the next stage of each of ``runnable`` (generators they call run their first stage
    too); those not finished wait in ``tree.suspended`` for the round that fetches what the
    stage primed (``tree.started``). An error closes the tree's generators and goes on."""
    session = _here()
    session.collecting.append(tree.started)
    session.advancing.append(tree)
    session.in_stages += 1
    try:
        for gen in runnable:
            if _advance(gen):
                tree.suspended.append(gen)
    except BaseException:
        for gen in runnable + tree.suspended:
            gen.close()
        tree.suspended = []
        raise
    finally:
        session.in_stages -= 1
        session.advancing.pop()
        session.collecting.pop()


def _later_stages(tree: _Tree) -> Generator[Any, Any, None]:
    """The body of the task that advances a tree of generators: wait for the round that
    fetches what their last stages primed, then run their next stages, holding the tasks that
    called them meanwhile (a stage's plain reads may run the scheduler: those tasks go on once
    the stage is over, as legacy code reads only after priming is done)."""
    session = _here()
    scheduler = get_scheduler()
    me = get_active_task()
    assert me is not None  # this generator is the body of a task
    while tree.suspended:
        waiting = [future for future, _, _ in tree.started if not future.is_computed()]
        while waiting:
            session.on_computes[me] = waiting
            try:
                yield waiting
            except Exception:  # noqa: BLE001 - a failed read fails the plain read of it, later
                pass
            # Keys that missed and that a reader is computing now: the next stage reads them
            # with plain calls, which would otherwise wait inside the stage.
            waiting = []
            for _, scope, key in tree.started:
                if scope is not None and key is not None and key in scope.values:
                    future = scope.inflight.get(key)
                    if future is not None and not future.is_computed():
                        waiting.append(future)
        session.on_computes.pop(me, None)
        runnable, tree.suspended, tree.started = tree.suspended, [], []
        owners = [other.owner for other in session.stages.values() if other.owner is not None]
        hold = scheduler.hold(owners)
        try:
            _advance_stage(tree, runnable)
        except Exception as error:  # noqa: BLE001 - raised by the next synchronous read
            session.errors.append(error)
            _recorded()
            return
        finally:
            scheduler.release(hold)


def open_request() -> RequestStorage:
    """The request priming keeps its values in outside any other: opened by the first priming
    call, current on this thread until ``end_request()``."""
    session = _here()
    storage = session.legacy
    if storage is None or storage.closed:
        storage = session.legacy = RequestStorage()
        storage.__enter__()
    return storage


def drive() -> None:
    """Run all recorded priming work now, in rounds of one multi-get (see the module
    docstring). Does nothing while already driving."""
    session = _here()
    if session.driving:
        return
    scheduler = get_scheduler()
    # Later stages of generators called inside tasks first, as a plain read in legacy code
    # first drives everything primed: they advance together, one round at a time.
    while session.stages_pending():
        for task in list(session.stages):
            if session.can_wait_for(task):
                scheduler.wait_for(task)
                break
    if session.errors:
        error = session.errors[0]
        session.errors = []
        raise error
    session.driving = True
    suspended: list[Generator[Any, Any, Any]] = []
    running: list[AsyncTask[Any]] = []
    touched: dict[MemcacheClient, None] = {}
    try:
        while True:
            runnable, session.generators = suspended + session.generators, []
            suspended = []
            while runnable:
                session.in_stage = True
                try:
                    for gen in runnable:
                        if _advance(gen):
                            suspended.append(gen)
                finally:
                    session.in_stage = False
                runnable, session.generators = session.generators, []
            if session.tasks:
                # Queued, not run: they run while the keys below are fetched, so that their
                # reads join the same multi-get.
                for task in session.tasks:
                    scheduler.schedule(task)
                running += session.tasks
                session.tasks = []
            running = [task for task in running if not task.is_computed()]
            if session.scopes:
                for scope in session.scopes:
                    touched[scope.client] = None
                _fetch_pending(scheduler)
            elif suspended:
                continue
            elif running:
                # Nothing else is waiting for a round: let the tasks finish (they may prime more).
                scheduler.wait_for(running[0])
            else:
                break
    except BaseException:
        for gen in suspended + session.generators:
            gen.close()
        session.generators = []
        session.tasks = []
        for scope in session.scopes:
            scope.prime_keys.clear()
        session.scopes.clear()
        raise
    finally:
        session.driving = False
    for client in touched:
        client.write_backs.send(confirm=True)


def _advance(gen: Generator[Any, Any, Any]) -> bool:
    """Run ``gen`` to its next yield; False once it is finished."""
    try:
        yielded = next(gen)
    except StopIteration:
        return False
    if yielded is not None:
        gen.close()
        name = getattr(gen, "__qualname__", repr(gen))
        raise TypeError(
            f"the priming generator {name} yielded {yielded!r}; a priming generator yields "
            "nothing (a bare `yield`) to have its primed keys fetched, then reads them with "
            "plain calls"
        )
    return True


def _fetch_pending(scheduler: TaskScheduler) -> None:
    """One multi-get per client for every pending key, all in the same scheduler round (with
    the reads of the primed tasks that are ready to run)."""
    from .memcache.batch import primed_read

    recorded = _here().scopes
    scopes = list(recorded)
    recorded.clear()
    items: list[FutureBase[Any]] = []
    for scope in scopes:
        keys = list(scope.prime_keys.items())
        scope.prime_keys.clear()
        if scope.closed:
            continue
        values, inflight = scope.values, scope.inflight
        for key, cached in keys:
            if key in values or key in inflight:
                continue
            # A raw fetch that asynq reads of the key do not join (they would get the
            # missing-key marker on a miss): one that comes meanwhile adds its own item, and
            # the batch asks memcached for the key once. A cached function's key accepts only
            # the function's own values, as the function's reads do.
            items.append(primed_read(scope, key, cached))
    for item in items:
        scheduler.schedule(item)
    for item in items:
        if not item.is_computed():
            scheduler.wait_for(item)


def end_request() -> None:
    """End the per-thread scopes priming opened outside ``with mc.request():`` (sending their
    write-backs) and drop any priming work not driven yet."""
    session = _here()
    for gen in session.generators:
        gen.close()
    session.generators = []
    session.tasks = []
    session.errors = []
    session.stages = {}
    session.on_computes.clear()
    session.scopes.clear()
    legacy, session.legacy = session.legacy, None
    if legacy is not None:
        legacy.__exit__(None, None, None)

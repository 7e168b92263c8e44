"""MemcacheClient: one memcached server or a cluster, read in batches.

The client keeps its configuration, the public API (``get``/``get_many``/``set``/``set_many``/
``delete``, synchronous and ``.asynq()``; ``cached``; ``request``; ``retarget``), the request
scopes (which scope a call reads through) and the queue of write-backs. Reads made while asynq
tasks run join the client's current ``ReadBatch`` and go out as one multi-get per round (see
``batch.py``). Everything that talks to a server goes through ``mc.pool``, a ``ServerPool``
(``pool.py``: placement, per-thread connections, health, the two-phase reads, writes) that speaks
the wire protocol of ``protocol.py``. One deadline bounds each call: ``read_timeout`` limits all
of its waiting, however slowly a server trickles its answer.

Faults never reach user code: a server that refuses, fails or does not answer within
``read_timeout`` turns its keys into misses, is counted in ``stats.errors``, is logged at most
once per ``log_interval`` seconds, and is left alone for ``retry_after`` seconds before it is
tried again.

The methods under "for batches" (``thread_state``, ``read_batch``, ``scope_for_call``,
``send_round_writes``, ``send_write_backs``, ...) are public for the other modules of
``asynq.memcache``, ``asynq.priming`` and ``asynq.web``; model code does not need them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from pymemcache.client.base import Client as PymemcacheClient
from qcore.events import EventHook

from .. import priming
from ..async_task import AsyncTask
from ..futures import ConstFuture, FutureBase
from ..request_roots import RequestStorage, current_storage
from ..scheduler import get_active_task
from .batch import GetItem, PrimedItem, ReadBatch, RoundTrip, WriteBatch, WriteItem
from .keys import check_prefix, check_raw_key
from .pool import ServerPool
from .protocol import WriteOp
from .request import MISSING, RequestBlock, RequestScope, scope_in
from .serde import FLAG_CACHED, JsonSerializer, PickleSerializer, Serializer
from .typed import Cached

if TYPE_CHECKING:
    from .cached import CachedFunction

__all__ = ["MemcacheClient", "MemcacheStats", "Retarget", "RoundTrip"]

_log = logging.getLogger("asynq.memcache")
_T = TypeVar("_T")
_P = ParamSpec("_P")
_THIRTY_DAYS = 60 * 60 * 24 * 30
_monotonic = time.monotonic
# Serializers that return str, int and bytes values unchanged.
_PLAIN_SERDES = (JsonSerializer, PickleSerializer)


class MemcacheStats:
    """Counters of one client since it was created or last ``reset()``."""

    __slots__ = (
        "round_trips",
        "keys_requested",
        "hits",
        "misses",
        "sets",
        "deletes",
        "errors",
        "lease_timeouts",
        "flush_seconds",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.round_trips = 0
        self.keys_requested = 0
        self.hits = 0
        self.misses = 0
        self.sets = 0
        self.deletes = 0
        self.errors = 0
        self.lease_timeouts = 0
        self.flush_seconds = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The counters as a plain dict."""
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{k}={v:.4f}" if k == "flush_seconds" else f"{k}={v}"
            for k, v in self.as_dict().items()
        )
        return f"MemcacheStats({inner})"


class ThreadState:
    """What a client keeps per thread: the active read and write batches (``batch``,
    ``writes``). Connections are the pool's; request scopes live in their request's storage."""

    __slots__ = ("batch", "writes")

    def __init__(self) -> None:
        self.batch: ReadBatch | None = None
        self.writes: WriteBatch | None = None


class _Operation(Generic[_T]):
    """A client operation usable as ``mc.op(...)`` and ``yield mc.op.asynq(...)``."""

    def __init__(
        self, name: str, sync: Callable[..., _T], asynq: Callable[..., FutureBase[_T]], doc: str
    ) -> None:
        self.__name__ = name
        self.__doc__ = doc
        self._sync = sync
        self.asynq = asynq

    def __call__(self, *args: Any, **kwargs: Any) -> _T:
        return self._sync(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<memcache operation {self.__name__}>"


def _parse_servers(servers: object) -> tuple[list[tuple[str, int]], dict[str, Any], str]:
    """(host, port) pairs, pymemcache settings to copy, and a key prefix from ``servers``
    (settings include the ``HashClient``'s ``hasher`` and its node names, when given one)."""
    clients: list[Any] = []
    if isinstance(servers, PymemcacheClient) or (
        hasattr(servers, "server") and hasattr(servers, "key_prefix")
    ):
        clients = [servers]
    elif hasattr(servers, "clients") and isinstance(getattr(servers, "clients", None), dict):
        clients = list(servers.clients.values())
        nodes = [str(node) for node in servers.clients]
    if clients:
        pairs = []
        for client in clients:
            server = client.server
            if not isinstance(server, tuple):
                raise ValueError(
                    f"MemcacheClient cannot use the pymemcache client for {server!r}: asynq "
                    "talks TCP only; give it a client for a (host, port) server"
                )
            pairs.append((str(server[0]), int(server[1])))
        first = clients[0]
        settings = {
            "connect_timeout": getattr(first, "connect_timeout", None),
            "timeout": getattr(first, "timeout", None),
            "socket_module": getattr(first, "socket_module", socket),
            "tls_context": getattr(first, "tls_context", None),
        }
        hasher = getattr(servers, "hasher", None)
        if len(clients) > 1 and callable(getattr(hasher, "get_node", None)):
            settings["hasher"] = hasher
            settings["nodes"] = nodes
        prefix = getattr(servers, "key_prefix", b"") or b""
        return pairs, settings, prefix.decode("ascii") if isinstance(prefix, bytes) else prefix
    if isinstance(servers, str):
        return [_parse_address(servers)], {}, ""
    if isinstance(servers, tuple) and len(servers) == 2 and isinstance(servers[1], int):
        return [_parse_address(f"{servers[0]}:{servers[1]}")], {}, ""
    if isinstance(servers, (list, tuple)):
        if not servers:
            raise ValueError(
                "MemcacheClient got an empty list of servers; give at least one "
                '"host:port", e.g. MemcacheClient(["127.0.0.1:11211"])'
            )
        pairs = [_parse_address(s) for s in servers]
        seen = set()
        for host, port in pairs:
            if (host, port) in seen:
                raise ValueError(
                    f"MemcacheClient got the server {host}:{port} twice in {list(servers)!r}; "
                    "list each server of a cluster once"
                )
            seen.add((host, port))
        return pairs, {}, ""
    raise TypeError(
        f'MemcacheClient(servers) expects "host:port", a list of them (a cluster) or a '
        f"pymemcache client, got {type(servers).__name__}: {servers!r}; for example "
        'MemcacheClient("127.0.0.1:11211")'
    )


def _parse_address(address: object) -> tuple[str, int]:
    if isinstance(address, tuple) and len(address) == 2:
        address = f"{address[0]}:{address[1]}"
    if not isinstance(address, str):
        raise TypeError(
            f'a memcached server address is a "host:port" string, got '
            f'{type(address).__name__}: {address!r}; for example "127.0.0.1:11211"'
        )
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f'{address!r} is not a memcached address: expected "host:port" with a port '
            'between 1 and 65535, for example "127.0.0.1:11211" (memcached\'s default port '
            "is 11211)"
        )
    return host.strip("[]"), int(port)


def _check_ttl(ttl: object, what: str = "ttl") -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0 or ttl > _THIRTY_DAYS:
        raise ValueError(
            f"{what} must be a whole number of seconds from 0 (never expire) to {_THIRTY_DAYS} "
            f"(30 days; memcached reads larger numbers as Unix timestamps), got {ttl!r}"
        )
    return ttl


def _check_timeout(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(
            f"{what} must be a positive number of seconds, got {value!r}; a timeout bounds how "
            "long a read waits for a server, so it cannot be zero or negative"
        )
    return float(value)


class MemcacheClient:
    """A memcached client whose reads are batched by the asynq scheduler.

    ``servers``: ``"host:port"``, a list of them (a cluster), or a pymemcache
    ``Client``/``HashClient`` whose servers and settings are reused. A cluster places keys as
    pymemcache's ``HashClient`` does: with the given ``HashClient``'s hasher, else rendezvous
    hashing like its default; ``hashing="ketama"`` uses a ketama-style ring instead.
    ``key_prefix`` is put in front of every key; ``default_ttl`` is the expiry of writes that do
    not give one (0: never). ``connect_timeout`` and ``read_timeout`` bound every wait on a
    server (default: the given pymemcache client's, else 1 second). ``serializer`` defaults to ``JsonSerializer()``; ``PickleSerializer()`` is unsafe on a
    memcached others can write to. A failing server is retried after ``retry_after`` seconds and
    logged at most once per ``log_interval`` seconds.
    """

    def __init__(
        self,
        servers: Any,
        *,
        key_prefix: str = "",
        default_ttl: int = 0,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        serializer: Serializer | None = None,
        retry_after: float = 1.0,
        log_interval: float = 60.0,
        max_value_size: int = 1024 * 1024 - 512,
        hashing: str | None = None,
        leases: bool = True,
        lease_ttl: int = 10,
        lease_wait: float = 2.0,
    ) -> None:
        pairs, settings, inherited_prefix = _parse_servers(servers)
        self.key_prefix = check_prefix(inherited_prefix + check_prefix(key_prefix))
        self.default_ttl = _check_ttl(default_ttl, "default_ttl")
        if connect_timeout is None:
            connect_timeout = settings.get("connect_timeout") or 1.0
        if read_timeout is None:
            read_timeout = settings.get("timeout") or 1.0
        self.connect_timeout = _check_timeout(connect_timeout, "connect_timeout")
        self.read_timeout = _check_timeout(read_timeout, "read_timeout")
        if serializer is None:
            serializer = JsonSerializer()
        elif not (
            callable(getattr(serializer, "serialize", None))
            and callable(getattr(serializer, "deserialize", None))
        ):
            raise TypeError(
                f"serializer must have serialize(key, value) -> (bytes, flags) and "
                f"deserialize(key, data, flags) methods, got {type(serializer).__name__}: "
                f"{serializer!r}; use JsonSerializer() (the default) or PickleSerializer()"
            )
        self.serializer: Serializer = serializer
        if (
            isinstance(retry_after, bool)
            or not isinstance(retry_after, (int, float))
            or retry_after < 0
        ):
            raise ValueError(f"retry_after must be a number of seconds >= 0, got {retry_after!r}")
        self.retry_after = float(retry_after)
        self.log_interval = float(log_interval)
        self.max_value_size = max_value_size
        if not isinstance(leases, bool):
            raise TypeError(
                f"leases must be True or False, got {type(leases).__name__}: {leases!r}; "
                "leases=False is for memcached before 1.6, which has no meta commands"
            )
        #: Cached functions take memcached leases (meta commands, memcached 1.6+).
        self.leases = leases
        if isinstance(lease_ttl, bool) or not isinstance(lease_ttl, int) or lease_ttl < 1:
            raise ValueError(
                f"lease_ttl must be a whole number of seconds >= 1, got {lease_ttl!r}; it is how "
                "long a lease (the right to compute a missing value) lasts if its holder dies"
            )
        self.lease_ttl = lease_ttl
        self.lease_wait = _check_timeout(lease_wait, "lease_wait")
        self._lease_logged = -1e18
        # A plain threading.local holding one ThreadState per thread: reading a plain object's
        # attributes is much cheaper than reading a threading.local subclass's.
        self.threads = threading.local()
        #: The servers, where keys live, connections, health and the I/O (``pool.py``).
        self.pool = ServerPool(self, pairs, settings, hashing)
        # Write-backs (and leases given back) are kept by the request scope they belong to
        # (``scope.writes``), whatever thread queued them: under the asyncio driver the tasks
        # that queue them run on the loop thread while rounds are sent from the flush thread,
        # and a threadpool endpoint's thread may never read again. The next round that reads
        # for that scope sends them before its gets (its reply confirms them), and the scope's
        # end sends the rest and waits for memcached's answer. ``_writing``: the scopes that
        # have some; ``_backlog``: write-backs of scopes already closed, sent by anyone.
        self._backlog: list[WriteOp] = []
        self._writing: set[RequestScope] = set()
        self._backlog_lock = threading.Lock()
        self.stats = MemcacheStats()
        #: Called with a ``RoundTrip`` after every multi-get (batched, direct or priming).
        self.on_round_trip = EventHook()

        self.get: _Operation[Any] = _Operation(
            "get", self._get_sync, self._get_asynq, "get(key, default=None): the stored value."
        )
        self.get_many: _Operation[dict[str, Any]] = _Operation(
            "get_many",
            self._get_many_sync,
            self._get_many_asynq,
            "get_many(keys): {key: value} for the keys memcached has.",
        )
        self.set: _Operation[bool] = _Operation(
            "set", self._set_sync, self._set_asynq, "set(key, value, ttl=None): store a value."
        )
        self.set_many: _Operation[list[str]] = _Operation(
            "set_many",
            self._set_many_sync,
            self._set_many_asynq,
            "set_many(mapping, ttl=None): store values; returns the keys that failed.",
        )
        self.delete: _Operation[bool] = _Operation(
            "delete", self._delete_sync, self._delete_asynq, "delete(key): remove a key."
        )

    # -- public ----------------------------------------------------------------------------

    @property
    def servers(self) -> list[str]:
        """The ``"host:port"`` of every server, in the order given."""
        return self.pool.addresses

    def server_for(self, key: str) -> str:
        """The ``"host:port"`` of the server that holds the full key ``key``."""
        pool = self.pool
        return pool.servers[pool.index_for(key)].address

    def request(self) -> RequestBlock:
        """A request scope: ``with mc.request():`` fetches each key at most once inside it."""
        return RequestBlock(self)

    def cached(
        self,
        namespace: str,
        ttl: int | None = None,
        *,
        key: Callable[..., Any] | None = None,
        stale_while_revalidate: bool = False,
        stale_ttl: int = 60,
    ) -> Callable[[Callable[_P, _T]], Cached[_P, _T]]:
        """Decorate a model function so that its results live in memcached (see cached.py).

        Typed: the result keeps the function's parameters and return type (``Cached[P, T]``).
        ``stale_while_revalidate=True``: after ``dirty()``, readers get the old value (listed
        in the request scope's ``stale``) for up to ``stale_ttl`` seconds while one of them
        recomputes it."""
        from .cached import CachedFunction

        _check_ttl(stale_ttl, "stale_ttl")

        def decorate(fn: Callable[_P, _T]) -> Cached[_P, _T]:
            return CachedFunction(self, fn, namespace, ttl, key, stale_while_revalidate, stale_ttl)

        if callable(namespace) and not isinstance(namespace, str):
            name = getattr(namespace, "__name__", repr(namespace))
            raise TypeError(
                f"mc.cached was applied directly to {name}; it needs a namespace: write "
                f'@mc.cached("{name}")'
            )
        from .keys import check_namespace

        check_namespace(namespace)
        if ttl is not None:
            _check_ttl(ttl)
        return decorate

    def retarget(self, servers: Any) -> Retarget:
        """Point this client at other memcached server(s) from now on, e.g. a test's server.

        ``servers`` is what ``MemcacheClient(servers)`` takes; the key prefix, timeouts and
        serializer stay. Pending write-backs are sent to the old servers first and every
        connection is closed. The result restores the old servers: use it as ``with
        mc.retarget(address):`` or call its ``restore()`` (the pytest plugin's
        ``retarget_client`` fixture does this at the end of the test). This is what tests need
        when the application's client is a module-level object captured by ``@mc.cached``.
        """
        if get_active_task() is not None:
            raise RuntimeError(
                f"{self!r}.retarget() was called inside the running task "
                f"{get_active_task()!r}; tasks of other requests share the client, so point it "
                "elsewhere before the top-level call (e.g. in a test's setup)"
            )
        pairs, settings, _prefix = _parse_servers(servers)
        previous = (self.pool.pairs, self.pool.settings)
        self._use_servers(pairs, settings)
        return Retarget(self, previous)

    def _use_servers(self, pairs: list[tuple[str, int]], settings: dict[str, Any]) -> None:
        self.send_write_backs(everything=True)
        self.pool.use(pairs, settings)

    def flush_writes(self) -> None:
        """Send the current request's queued write-backs now (normally sent with its next
        multi-get or when the request scope ends), and return once memcached has applied
        them: other connections, threads and processes then see them."""
        self.send_write_backs()
        self.pool.sync()

    def close(self) -> None:
        """Close the connections (of every thread); the next request opens new ones."""
        self.pool.close()

    def __enter__(self) -> MemcacheClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        servers = self.servers
        where = servers[0] if len(servers) == 1 else f"{len(servers)} servers"
        return f"<MemcacheClient {where}>"

    # -- scopes ----------------------------------------------------------------------------

    def thread_state(self) -> ThreadState:
        """This thread's state: its active read and write batches (``batch``, ``writes``),
        created on first use."""
        return self._local

    def has_write_backs(self) -> bool:
        """Whether write-backs are queued (of any scope, or of scopes already closed)."""
        return bool(self._backlog or self._writing)

    @property
    def _local(self) -> ThreadState:
        """This thread's state (created on first use)."""
        try:
            local: ThreadState = self.threads.state
        except AttributeError:
            local = self.threads.state = ThreadState()
        return local

    def scope_for_call(self) -> tuple[RequestScope, bool]:
        """The scope of the current request, and whether it is new and must be bound to the
        caller's future (``_bind``): outside any request (``request_roots.current_storage()``
        is None, or its request has ended), a top-level call is a request of its own."""
        storage = current_storage()
        if storage is not None:
            scope = scope_in(storage, self)
            if scope is not None:
                return scope, False
        scope = scope_in(RequestStorage(), self)
        assert scope is not None  # a new storage is open
        return scope, True

    def current_scope(self) -> RequestScope | None:
        """The scope of the current request, if the running code belongs to one (no new
        request is made): the scope a synchronous write updates, and priming records in."""
        storage = current_storage()
        return None if storage is None else scope_in(storage, self)

    def scope_to_update(self) -> RequestScope | None:
        """The scope a synchronous write should update, if any."""
        return self.current_scope()

    def _bind(self, scope: RequestScope, future: FutureBase[Any]) -> None:
        """End the new request of ``scope`` (a top-level call's own) when ``future`` is done."""
        scope.storage.close_with(future)

    def read_batch(self) -> ReadBatch:
        """This thread's active read batch (the reads of the current round), created on first
        use."""
        local = self._local
        batch = local.batch
        if batch is None:
            batch = local.batch = ReadBatch(self)
        return batch

    def _get_future(self, scope: RequestScope, key: str) -> FutureBase[Any]:
        value = scope.values.get(key, scope)
        if value is not scope:
            return ConstFuture(value)
        future = scope.inflight.get(key)
        if future is None:
            future = scope.inflight[key] = GetItem(self.read_batch(), key, scope)
        return future

    # -- reads -----------------------------------------------------------------------------

    def _get_sync(self, key: str, default: Any = None) -> Any:
        full = check_raw_key(key, self.key_prefix)
        self._drive_priming()
        scope, fresh = self.scope_for_call()
        future = self._get_future(scope, full)
        if fresh:
            self._bind(scope, future)
        value = future.value()
        return default if value is MISSING else value

    def _get_asynq(self, key: str, default: Any = None) -> FutureBase[Any]:
        full = check_raw_key(key, self.key_prefix)
        return AsyncTask(self._get_body(full, default), self._get_sync, (key,), {})

    def _get_body(self, full: str, default: Any) -> Generator[Any, Any, Any]:
        scope, _ = self.scope_for_call()
        value = yield self._get_future(scope, full)
        return default if value is MISSING else value

    def _get_many_sync(self, keys: Iterable[str]) -> dict[str, Any]:
        keys, fulls = self._check_keys(keys)
        self._drive_priming()
        task = AsyncTask(self._get_many_body(keys, fulls), self._get_many_sync, (keys,), {})
        return task.value()

    def _get_many_asynq(self, keys: Iterable[str]) -> FutureBase[dict[str, Any]]:
        keys, fulls = self._check_keys(keys)
        return AsyncTask(self._get_many_body(keys, fulls), self._get_many_sync, (keys,), {})

    def _check_keys(self, keys: Iterable[str]) -> tuple[list[str], list[str]]:
        if isinstance(keys, (str, bytes)):
            raise TypeError(
                f"get_many expects a list of keys, got the single key {keys!r}; write "
                f"get_many([{keys!r}]) or get({keys!r})"
            )
        keys = list(keys)
        return keys, [check_raw_key(k, self.key_prefix) for k in keys]

    def _get_many_body(
        self, keys: list[str], fulls: list[str]
    ) -> Generator[Any, Any, dict[str, Any]]:
        scope, _ = self.scope_for_call()
        values = yield [self._get_future(scope, full) for full in fulls]
        return {k: v for k, v in zip(keys, values, strict=True) if v is not MISSING}

    def _drive_priming(self) -> None:
        if priming.pending():
            priming.drive()

    # -- writes ----------------------------------------------------------------------------

    def _serialize(self, key: str, value: Any) -> tuple[bytes, int]:
        data, flags = self.serializer.serialize(key, value)
        if not isinstance(data, bytes):
            raise TypeError(
                f"{self.serializer!r}.serialize returned {type(data).__name__}, expected "
                "(bytes, flags)"
            )
        return data, flags

    def _writes(self) -> WriteBatch:
        local = self._local
        batch = local.writes
        if batch is None:
            batch = local.writes = WriteBatch(self)
        return batch

    def _as_stored(self, key: str, value: Any, data: bytes, flags: int) -> Any:
        """``value`` as a read of ``data`` returns it (JSON turns tuples into lists), so that
        a cold call and a warm call return equal values of the same types."""
        cls = type(value)
        if (cls is str or cls is int or cls is bytes) and type(self.serializer) in _PLAIN_SERDES:
            return value
        return self.serializer.deserialize(key, data, flags)

    def queue_write_back(
        self,
        key: str,
        value: Any,
        ttl: int,
        lease: int | None = None,
        scope: RequestScope | None = None,
    ) -> Any:
        """Queue a write-back of ``value`` for ``scope`` (it goes out with the scope's next
        round, or when the scope ends); return the value as a read of it will return it.

        With leases the write-back needs the lease: the cas of the placeholder the read got,
        or of another client's value the read found under a cached function's key (the
        write-back replaces it). Memcached stores it only if nobody deleted or changed the key
        since, so a value computed before a ``dirty`` never lands after it. Without one,
        nothing is written."""
        data, flags = self._serialize(key, value)
        value = self._as_stored(key, value, data, flags)
        if not flags:
            flags = FLAG_CACHED
        if len(data) > self.max_value_size:
            _log.warning(
                "asynq.memcache: not writing %s back: its value is %d bytes, more than "
                "max_value_size=%d (memcached's item size limit is 1 MB by default)",
                key,
                len(data),
                self.max_value_size,
            )
            return value
        if not self.leases:
            self._queue(("set", key, data, flags, ttl, True, 0), scope)
        elif lease is not None and lease > 0:
            self._queue(("lease-set", key, data, flags, ttl, True, lease), scope)
        return value

    def release_lease(self, key: str, lease: int, scope: RequestScope | None = None) -> None:
        """Give a lease back (its body failed), so that the next reader computes at once."""
        self._queue(("release", key, b"", 0, 0, True, lease), scope)

    def _queue(self, op: WriteOp, scope: RequestScope | None) -> None:
        with self._backlog_lock:
            if scope is None or scope.closed:
                self._backlog.append(op)
                return
            writes = scope.writes
            if writes is None:
                scope.writes = [op]
                self._writing.add(scope)
            else:
                writes.append(op)

    def _open_scope(self) -> RequestScope | None:
        """The scope of the request the running code belongs to, if it has one (no new one)."""
        storage = current_storage()
        return None if storage is None else storage.get(self)

    def _take_writes(self, scopes: Iterable[RequestScope] | None) -> list[WriteOp]:
        """The write-backs of ``scopes`` (None: of every scope) and those of closed scopes,
        removed from the queues."""
        with self._backlog_lock:
            ops, self._backlog = self._backlog, []
            writing = self._writing
            for scope in list(writing) if scopes is None else scopes:
                if scope.writes is not None:
                    ops.extend(scope.writes)
                    scope.writes = None
                    writing.discard(scope)
        return ops

    def send_write_backs(
        self,
        confirm: bool = False,
        scope: RequestScope | None = None,
        everything: bool = False,
        current: bool = True,
    ) -> None:
        """Send this thread's pending writes and the write-backs of ``scope`` (by default the
        open scope of the current top-level code, unless not ``current``; ``everything``: of
        every scope) and of closed scopes, quietly.
        With ``confirm``, then wait until memcached has applied the write-backs this thread
        sent: a call or request that ends must leave nothing in flight, since the next one may
        read on another connection (another thread, the asyncio flush thread, another process)
        that memcached serves first."""
        batch = self._local.writes
        if batch is not None:
            batch.flush_if_pending()
        if self._backlog or self._writing:
            scopes: Iterable[RequestScope] | None = None
            if not everything:
                if scope is None and current:
                    scope = self._open_scope()
                scopes = () if scope is None else (scope,)
            ops = self._take_writes(scopes)
            if ops:
                self._send_backlog(ops)
        if confirm and self.pool.has_unconfirmed():
            self.pool.confirm_quiet()

    def send_round_writes(self, items: list[Any], keys: list[str]) -> None:
        """Before a round's gets: this thread's pending writes, and the write-backs of the
        scopes the round reads for that go to the servers the gets go to, so that the round's
        reply confirms them (the others wait for a later round or the end of their scope)."""
        batch = self._local.writes
        if batch is not None:
            batch.flush_if_pending()
        if not (self._backlog or self._writing):
            return
        writing = self._writing
        read_for = {item.scope for item in items} if writing else set()
        pool = self.pool
        servers = {pool.index_for(key) for key in keys} if pool.ring is not None else None
        with self._backlog_lock:
            ops, self._backlog = self._backlog, []
            scopes = read_for & writing
            for scope in scopes:
                writes = scope.writes
                if writes is None:
                    continue
                if servers is None:
                    ops.extend(writes)
                    keep = None
                else:
                    index_for = pool.index_for
                    ops.extend([op for op in writes if index_for(op[1]) in servers])
                    keep = [op for op in writes if index_for(op[1]) not in servers] or None
                scope.writes = keep
                if keep is None:
                    writing.discard(scope)
        if ops:
            self._send_backlog(ops)

    def _send_backlog(self, ops: list[WriteOp]) -> None:
        """Send write-backs (quiet or noreply: nobody reads their answers now)."""
        self.pool.send(ops)

    def _set_sync(self, key: str, value: Any, ttl: int | None = None) -> bool:
        full = check_raw_key(key, self.key_prefix)
        expire = self.default_ttl if ttl is None else _check_ttl(ttl)
        data, flags = self._serialize(full, value)
        value = self._as_stored(full, value, data, flags)
        self.send_write_backs()
        failed = self._store_now({full: (data, flags)}, expire)
        scope = self.scope_to_update()
        if scope is not None:
            if failed:
                scope.values.pop(full, None)
            else:
                scope.values[full] = value
        return not failed

    def _set_many_sync(self, mapping: Mapping[str, Any], ttl: int | None = None) -> list[str]:
        if not isinstance(mapping, Mapping):
            raise TypeError(
                f"set_many expects a mapping of keys to values, got {type(mapping).__name__}: "
                f"{mapping!r}; write set_many({{key: value}})"
            )
        expire = self.default_ttl if ttl is None else _check_ttl(ttl)
        fulls = {check_raw_key(k, self.key_prefix): (k, v) for k, v in mapping.items()}
        payload = {full: self._serialize(full, v) for full, (_, v) in fulls.items()}
        fulls = {
            full: (k, self._as_stored(full, v, *payload[full])) for full, (k, v) in fulls.items()
        }
        self.send_write_backs()
        failed = self._store_now(payload, expire)
        scope = self.scope_to_update()
        if scope is not None:
            for full, (_, v) in fulls.items():
                if full in failed:
                    scope.values.pop(full, None)
                else:
                    scope.values[full] = v
        return [fulls[f][0] for f in failed]

    def _delete_sync(self, key: str) -> bool:
        full = check_raw_key(key, self.key_prefix)
        self.send_write_backs()
        scope = self.scope_to_update()
        if scope is not None:
            scope.values.pop(full, None)
        return self.delete_now(full)

    def _set_asynq(self, key: str, value: Any, ttl: int | None = None) -> FutureBase[bool]:
        full = check_raw_key(key, self.key_prefix)
        expire = self.default_ttl if ttl is None else _check_ttl(ttl)
        data, flags = self._serialize(full, value)
        scope = self.scope_to_update()
        if scope is not None:
            scope.values[full] = self._as_stored(full, value, data, flags)
        return WriteItem(self._writes(), "set", full, data, flags, expire)

    def _set_many_asynq(
        self, mapping: Mapping[str, Any], ttl: int | None = None
    ) -> FutureBase[list[str]]:
        if not isinstance(mapping, Mapping):
            raise TypeError(
                f"set_many expects a mapping of keys to values, got {type(mapping).__name__}: "
                f"{mapping!r}; write set_many({{key: value}})"
            )
        items = {k: self._set_asynq(k, v, ttl) for k, v in mapping.items()}
        return AsyncTask(_failed_keys(items), self._set_many_sync, (mapping,), {})

    def _delete_asynq(self, key: str) -> FutureBase[bool]:
        full = check_raw_key(key, self.key_prefix)
        scope = self.scope_to_update()
        if scope is not None:
            scope.values.pop(full, None)
        return WriteItem(self._writes(), "delete", full)

    # -- for batches ---------------------------------------------------------------------

    def primed_read(
        self, scope: RequestScope, key: str, cached: CachedFunction[Any] | None
    ) -> FutureBase[Any]:
        """A priming fetch of the full key ``key`` for ``scope``, in this thread's read batch:
        a raw read (``cached`` None), or a read of ``cached``'s key, which accepts only the
        function's own values, as the function's reads do."""
        batch = self.read_batch()
        if cached is None:
            return GetItem(batch, key, scope)
        return PrimedItem(batch, key, scope, cached)

    def note_lease_timeout(self, key: str, waited: float) -> None:
        """A read waited ``lease_wait`` for another caller's computation: log (rate-limited)."""
        self.stats.lease_timeouts += 1
        now = _monotonic()
        if now - self._lease_logged >= self.log_interval:
            self._lease_logged = now
            _log.warning(
                "asynq.memcache: waited %.2f s for another caller to compute %s (lease_wait=%.2f)"
                "; computing it here without writing it back (logged at most once per %.0f s)",
                waited,
                key,
                self.lease_wait,
                self.log_interval,
            )

    # -- writes sent now -------------------------------------------------------------------

    def _store_now(self, payload: dict[str, tuple[bytes, int]], expire: int) -> list[str]:
        """Store synchronously, waiting for memcached's answers; returns the keys that failed."""
        ops: list[WriteOp] = [
            ("set", key, data, flags, expire, False, 0) for key, (data, flags) in payload.items()
        ]
        results = self.pool.send(ops)
        return [op[1] for op, ok in zip(ops, results, strict=True) if not ok]

    def delete_now(
        self, full: str, deadline: float | None = None, stale_ttl: int | None = None
    ) -> bool:
        """Delete ``full`` now; with ``stale_ttl``, mark it stale instead (``md ... I``): it is
        served as stale to readers of a stale-while-revalidate function while one of them
        recomputes it, and expires after ``stale_ttl`` seconds if nobody does."""
        if deadline is None:
            deadline = _monotonic() + self.read_timeout
        pool = self.pool
        server = pool.servers[pool.index_for(full)]
        if stale_ttl is not None:
            op: WriteOp = ("invalidate", full, b"", 0, stale_ttl, False, 0)
        else:
            op = ("delete", full, b"", 0, 0, False, 0)
        return pool.write(server, [op], deadline)[0]


class Retarget:
    """What ``mc.retarget(servers)`` returns: restores the client's previous servers."""

    def __init__(
        self, client: MemcacheClient, previous: tuple[list[tuple[str, int]], dict[str, Any]]
    ) -> None:
        self.client = client
        self.previous = previous
        self.restored = False

    def restore(self) -> None:
        """Point the client back at the servers it had before (once; later calls do nothing)."""
        if not self.restored:
            self.restored = True
            self.client._use_servers(*self.previous)

    def __enter__(self) -> MemcacheClient:
        return self.client

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def __repr__(self) -> str:
        state = "restored" if self.restored else "active"
        return f"<Retarget of {self.client!r} ({state})>"


def _failed_keys(items: dict[str, FutureBase[bool]]) -> Generator[Any, Any, list[str]]:
    results = yield list(items.values())
    return [key for key, ok in zip(items, results, strict=True) if not ok]

"""MemcacheClient: one memcached server or a cluster, read in batches.

The client keeps its configuration and the public API (``get``/``get_many``/``set``/
``set_many``/``delete``, synchronous and ``.asynq()``; ``cached``; ``request``; ``retarget``;
``flush_writes``). Reads made while asynq tasks run join the client's current ``ReadBatch`` and
go out as one multi-get per round (see ``batch.py``), through the client's scope in the current
request (``request.py``). The client hands its collaborators to the other memcache modules as
attributes: ``mc.pool``, a ``ServerPool`` (``pool.py``: placement, per-thread connections,
health, the two-phase reads, writes) that speaks the wire protocol of ``protocol.py``, and
``mc.write_backs``, the queue of values computed on a miss (``writes.py``). One deadline bounds
each call: ``read_timeout`` limits all of its waiting, however slowly a server trickles its
answer.

Faults never reach user code: a server that refuses, fails or does not answer within
``read_timeout`` turns its keys into misses, is counted in ``stats.errors``, is logged at most
once per ``log_interval`` seconds, and is left alone for ``retry_after`` seconds before it is
tried again.

Each thread's active read and write batches are kept in ``mc.threads`` by ``batch.py``
(``thread_batches(mc)``, ``read_batch(mc)``, ``write_batch(mc)``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar

from pymemcache.client.base import Client as PymemcacheClient
from qcore.events import EventHook

from .. import priming
from ..async_task import AsyncTask
from ..futures import ConstFuture, FutureBase
from ..scheduler import get_active_task
from .batch import GetItem, RoundTrip, WriteItem, read_batch, write_batch
from .keys import check_prefix, check_raw_key
from .pool import ServerPool
from .protocol import WriteOp
from .request import MISSING, RequestBlock, RequestScope, current_scope, scope_for_call
from .serde import JsonSerializer, Serializer
from .typed import Cached
from .writes import WriteBacks, encode_value

__all__ = ["MemcacheClient", "MemcacheStats", "Retarget", "RoundTrip"]

_T = TypeVar("_T")
_P = ParamSpec("_P")
_THIRTY_DAYS = 60 * 60 * 24 * 30


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
        # A plain threading.local holding the active batches of each thread (``batch.py``'s
        # ``thread_batches``): reading a plain object's attributes is much cheaper than reading a
        # threading.local subclass's.
        self.threads = threading.local()
        #: The servers, where keys live, connections, health and the I/O (``pool.py``).
        self.pool = ServerPool(self, pairs, settings, hashing)
        #: The queue of write-backs: values computed on a miss, sent with their request's
        #: next round or when it ends (``writes.py``).
        self.write_backs = WriteBacks(self)
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
        self.write_backs.send(everything=True)
        self.pool.use(pairs, settings)

    def flush_writes(self) -> None:
        """Send the current request's queued write-backs now (normally sent with its next
        multi-get or when the request scope ends), and return once memcached has applied
        them: other connections, threads and processes then see them."""
        self.write_backs.send()
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

    # -- reads -----------------------------------------------------------------------------

    def _get_future(self, scope: RequestScope, key: str) -> FutureBase[Any]:
        value = scope.values.get(key, scope)
        if value is not scope:
            return ConstFuture(value)
        future = scope.inflight.get(key)
        if future is None:
            future = scope.inflight[key] = GetItem(read_batch(self), key, scope)
        return future

    def _get_sync(self, key: str, default: Any = None) -> Any:
        full = check_raw_key(key, self.key_prefix)
        self._drive_priming()
        scope, fresh = scope_for_call(self)
        future = self._get_future(scope, full)
        if fresh:
            scope.storage.close_with(future)  # a top-level call's own request
        value = future.value()
        return default if value is MISSING else value

    def _get_asynq(self, key: str, default: Any = None) -> FutureBase[Any]:
        full = check_raw_key(key, self.key_prefix)
        return AsyncTask(self._get_body(full, default), self._get_sync, (key,), {})

    def _get_body(self, full: str, default: Any) -> Generator[Any, Any, Any]:
        scope, _ = scope_for_call(self)
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
        scope, _ = scope_for_call(self)
        values = yield [self._get_future(scope, full) for full in fulls]
        return {k: v for k, v in zip(keys, values, strict=True) if v is not MISSING}

    def _drive_priming(self) -> None:
        if priming.pending():
            priming.drive()

    # -- writes ----------------------------------------------------------------------------

    def _set_sync(self, key: str, value: Any, ttl: int | None = None) -> bool:
        full = check_raw_key(key, self.key_prefix)
        expire = self.default_ttl if ttl is None else _check_ttl(ttl)
        data, flags, value = encode_value(self.serializer, full, value)
        self.write_backs.send()
        failed = self._store_now({full: (data, flags)}, expire)
        scope = current_scope(self)
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
        encoded = {full: encode_value(self.serializer, full, v) for full, (_, v) in fulls.items()}
        payload = {full: (data, flags) for full, (data, flags, _) in encoded.items()}
        fulls = {full: (k, encoded[full][2]) for full, (k, _) in fulls.items()}
        self.write_backs.send()
        failed = self._store_now(payload, expire)
        scope = current_scope(self)
        if scope is not None:
            for full, (_, v) in fulls.items():
                if full in failed:
                    scope.values.pop(full, None)
                else:
                    scope.values[full] = v
        return [fulls[f][0] for f in failed]

    def _delete_sync(self, key: str) -> bool:
        full = check_raw_key(key, self.key_prefix)
        self.write_backs.send()
        scope = current_scope(self)
        if scope is not None:
            scope.values.pop(full, None)
        return self.pool.delete(full)

    def _set_asynq(self, key: str, value: Any, ttl: int | None = None) -> FutureBase[bool]:
        full = check_raw_key(key, self.key_prefix)
        expire = self.default_ttl if ttl is None else _check_ttl(ttl)
        data, flags, stored = encode_value(self.serializer, full, value)
        scope = current_scope(self)
        if scope is not None:
            scope.values[full] = stored
        return WriteItem(write_batch(self), "set", full, data, flags, expire)

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
        scope = current_scope(self)
        if scope is not None:
            scope.values.pop(full, None)
        return WriteItem(write_batch(self), "delete", full)

    # -- writes sent now -------------------------------------------------------------------

    def _store_now(self, payload: dict[str, tuple[bytes, int]], expire: int) -> list[str]:
        """Store synchronously, waiting for memcached's answers; returns the keys that failed."""
        ops: list[WriteOp] = [
            ("set", key, data, flags, expire, False, 0) for key, (data, flags) in payload.items()
        ]
        results = self.pool.send(ops)
        return [op[1] for op, ok in zip(ops, results, strict=True) if not ok]


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

"""MemcacheClient: one memcached server or a cluster, read in batches.

Reads made while asynq tasks run join the client's current ``ReadBatch`` and go out as one
multi-get per round (see ``batch.py``). The wire protocol for reads is written here, over the
sockets of pymemcache ``Client`` objects (one per server and thread), because a flush must send
every server its request before reading any reply. Writes are written here too, so that a call
has one deadline: ``read_timeout`` bounds all of a call's waiting, however slowly a server
trickles its answer.

Faults never reach user code: a server that refuses, fails or does not answer within
``read_timeout`` turns its keys into misses, is counted in ``stats.errors``, is logged at most
once per ``log_interval`` seconds, and is left alone for ``retry_after`` seconds before it is
tried again.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar

from pymemcache.client.base import Client as PymemcacheClient
from pymemcache.exceptions import MemcacheError
from qcore.events import EventHook

from .. import priming
from ..async_task import AsyncTask
from ..futures import ConstFuture, FutureBase
from ..request_roots import storage_of
from ..scheduler import get_active_task
from .batch import STALE, GetItem, ReadBatch, RoundTrip, WriteBatch, WriteItem
from .cluster import HasherPlacement, HashRing, Rendezvous
from .keys import check_prefix, check_raw_key
from .request import MISSING, RequestBlock, RequestScope, scope_for_new_roots
from .serde import FLAG_CACHED, FLAG_COMPRESSED, JsonSerializer, PickleSerializer, Serializer
from .typed import Cached

__all__ = ["MemcacheClient", "MemcacheStats", "Retarget", "RoundTrip"]

_log = logging.getLogger("asynq.memcache")
_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")
_THIRTY_DAYS = 60 * 60 * 24 * 30
_monotonic = time.monotonic
# Serializers that return str, int and bytes values unchanged.
_PLAIN_SERDES = (JsonSerializer, PickleSerializer)
# Flags bits that say how a value is encoded, beyond compression and asynq's bytes mark: zero
# means plain bytes.
_RAW_MASK = ~(FLAG_CACHED | FLAG_COMPRESSED)


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


class _Server:
    """One memcached server: its address and health (shared by all threads)."""

    __slots__ = ("index", "address", "host", "port", "down_until", "last_logged", "healthy")

    def __init__(self, index: int, host: str, port: int) -> None:
        self.index = index
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        self.down_until = 0.0
        self.last_logged = -1e18
        self.healthy = True


class _Local:
    """What a client keeps per thread: the active batches, the current scope, connections.

    The thread's connections are closed when it ends (when its ``_Local`` is collected), so
    short-lived threads do not pile up connections until memcached refuses new ones."""

    __slots__ = ("batch", "writes", "scope", "conns", "unread", "quiet", "__weakref__")

    def __init__(self) -> None:
        self.batch: ReadBatch | None = None
        self.writes: WriteBatch | None = None
        self.scope: RequestScope | None = None
        self.conns: dict[int, PymemcacheClient] = {}
        # Per server, a get whose reply is still on the socket (between a round's two phases).
        self.unread: dict[int, _Sent] = {}
        # Per server, how many runs of quiet meta writes (each ended by ``mn``) have answers
        # (failures, then ``MN``) still on the socket for the next reader to skip.
        self.quiet: dict[int, int] = {}
        weakref.finalize(self, _close_all, self.conns)


class _Sent:
    """One server's part of a flush: its request is on the socket, its reply not read yet.

    ``keys`` is None for a classic ``get``; for meta gets (``mg`` per key, then ``mn``) it is the
    keys in request order and ``quiet`` the runs of quiet writes whose answers come first."""

    __slots__ = ("server", "conn", "deadline", "raw", "error", "keys", "quiet", "meta", "tokens")

    def __init__(
        self,
        server: _Server,
        conn: PymemcacheClient,
        deadline: float,
        keys: list[str] | None = None,
        quiet: int = 0,
    ) -> None:
        self.server = server
        self.conn = conn
        self.deadline = deadline
        self.raw: list[tuple[str, int, bytes]] | None = None
        self.error: BaseException | None = None
        self.keys = keys
        self.quiet = quiet
        self.meta: _MetaResult | None = None
        #: The cas tokens of the hits, parsed from the reply when first needed (_cas_of).
        self.tokens: dict[str, bytes] | None = None

    def read(self) -> None:
        """Read the reply off the socket (once)."""
        if self.raw is None and self.meta is None and self.error is None:
            try:
                if self.keys is not None:
                    self.meta = _read_meta(self.conn.sock, self.deadline, self.keys, self.quiet)
                else:
                    self.raw = _read_values(self.conn.sock, self.deadline)
                self.conn.sock.settimeout(self.conn.timeout)
            except _FAULTS as error:  # the flush turns it into misses
                self.error = error
            except BaseException:
                # Interrupted (KeyboardInterrupt, a deadline from a signal handler): the rest of
                # the reply would be read as the next command's. The caller gets the exception.
                self.conn.close()
                raise


# One write: (op, key, data, flags, ttl, noreply, cas). op: "set", "delete", "invalidate"
# (md with I), "lease-set" (ms with C: stored only if the lease still holds), "release" (give
# a lease back); the last two are quiet.
_WriteOp = tuple[str, str, bytes, int, int, bool, int]
# A flush: (keys, the servers' parts, when it started, how many servers the keys go to).
_Plan = tuple[list[str], list[_Sent], float, int]


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


_Placement = HashRing | Rendezvous | HasherPlacement


def _placement(
    hashing: object, addresses: list[str], settings: dict[str, Any]
) -> _Placement | None:
    """How keys are spread over ``addresses`` (None for a single server)."""
    if hashing not in (None, "rendezvous", "ketama"):
        raise ValueError(
            f"hashing must be 'rendezvous' (pymemcache HashClient's placement, the default for "
            f"addresses) or 'ketama' (a ketama-style ring), got {hashing!r}; leave it out to "
            "use the given HashClient's own hasher"
        )
    if len(addresses) < 2:
        return None
    if hashing == "ketama":
        return HashRing(addresses)
    rendezvous = Rendezvous(addresses)
    if hashing is None and "hasher" in settings:
        return HasherPlacement(settings["hasher"], settings["nodes"], rendezvous)
    return rendezvous


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
        self._lease_flags = b" v f c N%d\r\n" % lease_ttl
        self._lease_join = f" v f c N{lease_ttl}\r\nmg "
        self._lease_logged = -1e18
        self._settings = settings
        self._servers = [_Server(i, host, port) for i, (host, port) in enumerate(pairs)]
        self._next_index = len(pairs)
        self._hashing = hashing
        self._ring = _placement(hashing, [s.address for s in self._servers], settings)
        self._route: dict[str, int] = {}
        # A plain threading.local holding one _Local per thread: reading a plain object's
        # attributes is much cheaper than reading a threading.local subclass's.
        self._tls = threading.local()
        # Every open connection of every live thread, closed by close() or when the client is
        # collected (a thread's own connections are closed when the thread ends).
        self._all_conns: weakref.WeakSet[PymemcacheClient] = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _close_all, self._all_conns)
        # Write-backs (and leases given back) are kept by the request scope they belong to
        # (``scope.writes``), whatever thread queued them: under the asyncio driver the tasks
        # that queue them run on the loop thread while rounds are sent from the flush thread,
        # and a threadpool endpoint's thread may never read again. The next round that reads
        # for that scope sends them before its gets (its reply confirms them), and the scope's
        # end sends the rest and waits for memcached's answer. ``_writing``: the scopes that
        # have some; ``_backlog``: write-backs of scopes already closed, sent by anyone.
        self._backlog: list[_WriteOp] = []
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
        return [s.address for s in self._servers]

    def server_for(self, key: str) -> str:
        """The ``"host:port"`` of the server that holds the full key ``key``."""
        return self._servers[self._index_for(key)].address

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
        previous = ([(s.host, s.port) for s in self._servers], self._settings)
        self._use_servers(pairs, settings)
        return Retarget(self, previous)

    def _use_servers(self, pairs: list[tuple[str, int]], settings: dict[str, Any]) -> None:
        self._flush_writes(everything=True)
        # Write-backs go without a reply; one command that answers on each of this thread's
        # connections makes sure the server has applied them before the connection closes.
        for conn in self._local.conns.values():
            try:
                conn.version()
            except Exception:  # noqa: BLE001 - a dead server lost them anyway
                pass
        _close_all(self._all_conns)
        self._all_conns.clear()
        # Fresh indices: connections are cached per thread by server index, so the old ones
        # (closed above) are never handed out again, whatever thread asks.
        first = self._next_index
        self._next_index += len(pairs)
        self._servers = [_Server(first + i, h, p) for i, (h, p) in enumerate(pairs)]
        self._settings = settings
        self._ring = _placement(self._hashing, [s.address for s in self._servers], settings)
        self._route = {}
        self._local.unread.clear()
        self._local.quiet.clear()
        self._local.conns.clear()

    def flush_writes(self) -> None:
        """Send the current request's queued write-backs now (normally sent with its next
        multi-get or when the request scope ends), and return once memcached has applied
        them: other connections, threads and processes then see them."""
        self._flush_writes()
        local = self._local
        deadline = _monotonic() + self.read_timeout
        for server in self._servers:
            conn = local.conns.get(server.index)
            if conn is None or conn.sock is None:
                continue
            try:
                self._drain(server)
                quiet = local.quiet.pop(server.index, 0)
                # Answered after everything sent before it on this connection.
                conn.sock.settimeout(max(deadline - _monotonic(), 0.001))
                conn.sock.sendall(b"version\r\n")
                _read_lines(conn.sock, 1, deadline, quiet)
            except _FAULTS as error:
                self._fault(server, conn, error)
            except BaseException:
                conn.close()
                raise

    def close(self) -> None:
        """Close the connections (of every thread); the next request opens new ones."""
        _close_all(self._all_conns)

    def __enter__(self) -> MemcacheClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        servers = self.servers
        where = servers[0] if len(servers) == 1 else f"{len(servers)} servers"
        return f"<MemcacheClient {where}>"

    # -- scopes ----------------------------------------------------------------------------

    @property
    def _local(self) -> _Local:
        """This thread's state (created on first use)."""
        try:
            local: _Local = self._tls.state
        except AttributeError:
            local = self._tls.state = _Local()
        return local

    def _scope(self) -> tuple[RequestScope, bool]:
        """The current scope, and whether it is new and must be bound to the caller's future.

        Inside a running task with no scope open, the top-level task (the end of the chain of
        creators) gets an implicit scope, current on this thread until that task is done."""
        local = self._local
        scope = local.scope
        task = get_active_task()
        if scope is not None and not scope.closed:
            if not scope.implicit or task is not None:
                return scope, False
            # An implicit scope whose top-level task never finished (an error escaped the
            # scheduler): it must not serve values to the calls that come after.
            scope.close()
        if task is None:
            # A top-level call inside an HTTP request of the web middleware: the request's scope.
            outer = scope_for_new_roots(self)
            if outer is not None:
                return outer, False
            return RequestScope(self), True
        # The request of the top-level task: one scope per client in its request-local storage,
        # closed when that task is done.
        storage = storage_of(task)
        scope = storage.get(self)
        if scope is None or scope.closed:
            scope = RequestScope(self)
            scope.implicit = True
            values = storage.values
            if values is not None:
                values[self] = scope
                storage.on_close(scope.close)
        local.scope = scope
        return scope, False

    def _current_scope(self) -> RequestScope | None:
        """The scope a synchronous write should update, if any."""
        scope, fresh = self._scope()
        return None if fresh else scope

    def _bind(self, scope: RequestScope, future: FutureBase[Any]) -> None:
        """Make ``future`` the root of the new ``scope``: the scope closes when it is done."""
        scope.close_with(future)

    def _batch(self) -> ReadBatch:
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
            future = scope.inflight[key] = GetItem(self._batch(), key, scope)
        return future

    # -- reads -----------------------------------------------------------------------------

    def _get_sync(self, key: str, default: Any = None) -> Any:
        full = check_raw_key(key, self.key_prefix)
        self._drive_priming()
        scope, fresh = self._scope()
        future = self._get_future(scope, full)
        if fresh:
            self._bind(scope, future)
        value = future.value()
        return default if value is MISSING else value

    def _get_asynq(self, key: str, default: Any = None) -> FutureBase[Any]:
        full = check_raw_key(key, self.key_prefix)
        return AsyncTask(self._get_body(full, default), self._get_sync, (key,), {})

    def _get_body(self, full: str, default: Any) -> Generator[Any, Any, Any]:
        scope, _ = self._scope()
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
        scope, _ = self._scope()
        values = yield [self._get_future(scope, full) for full in fulls]
        return {k: v for k, v in zip(keys, values, strict=True) if v is not MISSING}

    def _drive_priming(self) -> None:
        if priming._session.pending():
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

    def _queue_write(
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

    def _release(self, key: str, lease: int, scope: RequestScope | None = None) -> None:
        """Give a lease back (its body failed), so that the next reader computes at once."""
        self._queue(("release", key, b"", 0, 0, True, lease), scope)

    def _queue(self, op: _WriteOp, scope: RequestScope | None) -> None:
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
        """The scope the current top-level code runs in, if one is open (no new one)."""
        scope = self._local.scope
        if scope is not None and not scope.closed:
            return scope
        return scope_for_new_roots(self)

    def _take_writes(self, scopes: Iterable[RequestScope] | None) -> list[_WriteOp]:
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

    def _flush_writes(
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
        if batch is not None and batch.items and not batch._flush_begun:
            batch.flush()
        if self._backlog or self._writing:
            scopes: Iterable[RequestScope] | None = None
            if not everything:
                if scope is None and current:
                    scope = self._open_scope()
                scopes = () if scope is None else (scope,)
            ops = self._take_writes(scopes)
            if ops:
                self._send_backlog(ops)
        if confirm and self._local.quiet:
            self._confirm_quiet()

    def _flush_round_writes(self, items: list[Any], keys: list[str]) -> None:
        """Before a round's gets: this thread's pending writes, and the write-backs of the
        scopes the round reads for that go to the servers the gets go to, so that the round's
        reply confirms them (the others wait for a later round or the end of their scope)."""
        batch = self._local.writes
        if batch is not None and batch.items and not batch._flush_begun:
            batch.flush()
        if not (self._backlog or self._writing):
            return
        writing = self._writing
        read_for = {item.scope for item in items} if writing else set()
        servers = {self._index_for(key) for key in keys} if self._ring is not None else None
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
                    index_for = self._index_for
                    ops.extend([op for op in writes if index_for(op[1]) in servers])
                    keep = [op for op in writes if index_for(op[1]) not in servers] or None
                scope.writes = keep
                if keep is None:
                    writing.discard(scope)
        if ops:
            self._send_backlog(ops)

    def _send_backlog(self, ops: list[_WriteOp]) -> None:
        by_server: dict[int, list[_WriteOp]] = {}
        for op in ops:
            by_server.setdefault(self._index_for(op[1]), []).append(op)
        deadline = _monotonic() + self.read_timeout
        for index, server_ops in sorted(by_server.items()):
            self._write(self._servers[index], server_ops, deadline)

    def _confirm_quiet(self) -> None:
        """Read the answers to the quiet writes this thread sent (each run ends with ``MN``):
        once read, memcached has applied them. Nothing is sent."""
        local = self._local
        deadline = _monotonic() + self.read_timeout
        for server in self._servers:
            if not local.quiet.get(server.index):
                continue
            conn = local.conns.get(server.index)
            if conn is None or conn.sock is None:
                local.quiet.pop(server.index, None)
                continue
            try:
                self._drain(server)
                quiet = local.quiet.pop(server.index, 0)
                if quiet:
                    _read_lines(conn.sock, 0, deadline, quiet)
                    conn.sock.settimeout(conn.timeout)
            except _FAULTS as error:
                self._fault(server, conn, error)
            except BaseException:
                conn.close()
                raise

    def _set_sync(self, key: str, value: Any, ttl: int | None = None) -> bool:
        full = check_raw_key(key, self.key_prefix)
        expire = self.default_ttl if ttl is None else _check_ttl(ttl)
        data, flags = self._serialize(full, value)
        value = self._as_stored(full, value, data, flags)
        self._flush_writes()
        failed = self._store_now({full: (data, flags)}, expire)
        scope = self._current_scope()
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
        self._flush_writes()
        failed = self._store_now(payload, expire)
        scope = self._current_scope()
        if scope is not None:
            for full, (_, v) in fulls.items():
                if full in failed:
                    scope.values.pop(full, None)
                else:
                    scope.values[full] = v
        return [fulls[f][0] for f in failed]

    def _delete_sync(self, key: str) -> bool:
        full = check_raw_key(key, self.key_prefix)
        self._flush_writes()
        scope = self._current_scope()
        if scope is not None:
            scope.values.pop(full, None)
        return self._delete_now(full)

    def _set_asynq(self, key: str, value: Any, ttl: int | None = None) -> FutureBase[bool]:
        full = check_raw_key(key, self.key_prefix)
        expire = self.default_ttl if ttl is None else _check_ttl(ttl)
        data, flags = self._serialize(full, value)
        scope = self._current_scope()
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
        scope = self._current_scope()
        if scope is not None:
            scope.values.pop(full, None)
        return WriteItem(self._writes(), "delete", full)

    # -- routing and connections -----------------------------------------------------------

    def _index_for(self, key: str) -> int:
        ring = self._ring
        if ring is None:
            return 0
        index = self._route.get(key)
        if index is None:
            if len(self._route) > 100_000:
                self._route.clear()
            # Placed by the key without the prefix, as pymemcache's HashClient places it.
            prefix = self.key_prefix
            bare = key[len(prefix) :] if prefix and key.startswith(prefix) else key
            index = self._route[key] = ring.index_for(bare)
        return index

    def _group(self, keys: list[str]) -> list[tuple[int, list[str]]]:
        if self._ring is None:
            return [(0, keys)]
        groups: dict[int, list[str]] = {}
        route = self._route
        for key in keys:
            index = route.get(key)
            if index is None:
                index = self._index_for(key)
            group = groups.get(index)
            if group is None:
                groups[index] = [key]
            else:
                group.append(key)
        return sorted(groups.items())

    def _conn(self, server: _Server) -> PymemcacheClient:
        conns = self._local.conns
        conn = conns.get(server.index)
        if conn is None:
            settings = self._settings
            conn = conns[server.index] = PymemcacheClient(
                (server.host, server.port),
                connect_timeout=self.connect_timeout,
                timeout=self.read_timeout,
                no_delay=True,
                socket_module=settings.get("socket_module", socket),
                tls_context=settings.get("tls_context"),
                default_noreply=False,
            )
            self._all_conns.add(conn)
        return conn

    def _available(self, server: _Server, now: float) -> bool:
        return server.down_until <= now

    def _fault(self, server: _Server, conn: PymemcacheClient | None, error: BaseException) -> None:
        """A server failed: close its connection, count, log (rate-limited), back off."""
        if conn is not None:
            conn.close()
        now = _monotonic()
        server.down_until = now + self.retry_after
        server.healthy = False
        self.stats.errors += 1
        if now - server.last_logged >= self.log_interval:
            server.last_logged = now
            _log.warning(
                "asynq.memcache: memcached %s failed (%s: %s); its keys are treated as misses "
                "and it is retried after %.1f s (logged at most once per %.0f s per server)",
                server.address,
                type(error).__name__,
                error,
                self.retry_after,
                self.log_interval,
            )

    def _recovered(self, server: _Server) -> None:
        server.healthy = True
        _log.info("asynq.memcache: memcached %s answers again", server.address)

    # -- the read protocol -----------------------------------------------------------------

    def _send_gets(self, keys: list[str], raw: set[str] | None = None) -> _Plan:
        """Send the gets of ``keys`` to every server involved; read nothing.

        With leases, every key is a meta get (``mg``), and the keys not in ``raw`` (cached
        functions' keys) ask for a lease on a miss; the gets of a server end with ``mn``, so
        they still make one request and one reply per server."""
        started = _monotonic()
        sent: list[_Sent] = []
        groups = self._group(keys)
        local = self._local
        meta = self.leases
        lease_flags = self._lease_flags
        if raw is None:
            raw = set(keys)  # gets made outside a batch: plain reads
        for index, group in groups:
            server = self._servers[index]
            if server.down_until > started:
                continue
            conn = self._conn(server)
            quiet = 0
            try:
                if conn.sock is None:
                    conn._connect()
                    local.quiet.pop(server.index, None)
                else:
                    self._drain(server)
                if meta:
                    quiet = local.quiet.pop(server.index, 0)
                    if not raw:  # the common case, in one join: "mg k1 <flags>mg k2 <flags>"
                        request = b"mg " + self._lease_join.join(group).encode("ascii")
                        request += lease_flags
                    else:
                        request = b"".join(
                            [
                                b"mg " + key.encode("ascii") + (_MG if key in raw else lease_flags)
                                for key in group
                            ]
                        )
                    conn.sock.sendall(request + b"mn\r\n")
                else:
                    conn.sock.sendall(b"get " + " ".join(group).encode("ascii") + b"\r\n")
            except _FAULTS as error:  # a fault is a miss, never an exception
                self._fault(server, conn, error)
                continue
            except BaseException:
                conn.close()
                raise
            part = _Sent(
                server, conn, _monotonic() + self.read_timeout, group if meta else None, quiet
            )
            local.unread[server.index] = part
            sent.append(part)
        return keys, sent, started, len(groups)

    def _drain(self, server: _Server) -> None:
        """Read a reply still waiting on ``server``'s socket (kept for the flush it belongs to),
        so that the socket can carry another command: something ran between a round's sends
        and reads (a hook, another batch's flush) and used this client."""
        part = self._local.unread.pop(server.index, None)
        if part is not None:
            part.read()

    def _read_gets(
        self, plan: _Plan
    ) -> tuple[dict[str, Any], dict[str, int], dict[str, tuple[int, int]]]:
        """Read the replies of ``_send_gets``: {key: decoded value} for the hits; the keys
        whose value no cached function wrote (plain bytes without ``FLAG_CACHED``, or a value
        the serializer cannot decode), each with the cas of that value (0 if the get did not
        ask for one), under which a cached function may replace it; and for meta gets the lease
        state of the keys that have one: {key: (WIN/LOST/STALE bits, cas)}.

        This is where a value is judged to be a cached function's own or another client's,
        for every read path (a cached call, synchronous or batched, and a primed key).

        A lease placeholder (an empty item someone is computing) is not a hit; a stale item
        (invalidated by ``dirty`` of a stale-while-revalidate function) is in ``found`` and
        marked STALE."""
        keys, sent, started, servers = plan
        found: dict[str, Any] = {}
        foreign: dict[str, int] = {}
        leases: dict[str, tuple[int, int]] = {}
        deserialize = self.serializer.deserialize
        unread = self._local.unread
        for part in sent:
            server = part.server
            if unread.get(server.index) is part:
                del unread[server.index]
            part.read()
            raw = part.raw
            if raw is not None:
                entries = raw
            elif part.meta is not None:
                entries, states, _ = part.meta
                if states:
                    leases.update(states)
            else:
                self._fault(server, part.conn, part.error or ConnectionError("no reply"))
                continue
            if not server.healthy:
                self._recovered(server)
            for key, flags, data in entries:
                if flags & _RAW_MASK == 0:
                    # Plain bytes: from a cached function only if it marked them.
                    if flags & FLAG_CACHED:
                        flags ^= FLAG_CACHED
                    else:
                        foreign[key] = _cas_of(key, part)
                try:
                    found[key] = deserialize(key, data, flags)
                except Exception as error:  # noqa: BLE001 - an undecodable value is a miss
                    foreign[key] = _cas_of(key, part)
                    self.stats.errors += 1
                    _log.error(
                        "asynq.memcache: the value of %s on %s cannot be decoded by %r (%s); "
                        "treating it as a miss",
                        key,
                        server.address,
                        self.serializer,
                        error,
                    )
        seconds = _monotonic() - started
        stats = self.stats
        stats.round_trips += 1
        stats.keys_requested += len(keys)
        stats.hits += len(found)
        stats.misses += len(keys) - len(found)
        stats.flush_seconds += seconds
        self.on_round_trip(RoundTrip(keys, len(found), seconds, servers))
        return found, foreign, leases

    def _lease_timeout(self, key: str, waited: float) -> None:
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

    def _foreign(self, key: str, cached: Any) -> None:
        """A cached function found a value it did not write under its key: log, count."""
        self.stats.errors += 1
        now = _monotonic()
        if now - cached._foreign_logged >= self.log_interval:
            cached._foreign_logged = now
            _log.warning(
                "asynq.memcache: the value under %s was not written by a cached function "
                "(another client stored plain bytes, flags 0, where cached functions write "
                "flags %d); %s treats it as a miss, recomputes and overwrites it (logged at "
                "most once per %.0f s per function)",
                key,
                FLAG_CACHED,
                cached.__qualname__,
                self.log_interval,
            )

    # -- the write protocol ---------------------------------------------------------------

    def _send_writes(self, items: list[WriteItem], deadline: float | None = None) -> None:
        """Send queued writes, one request per server (write-backs with noreply), and set each
        item to whether memcached stored (or deleted) it."""
        if not items:
            return
        by_server: dict[int, list[WriteItem]] = {}
        for item in items:
            by_server.setdefault(self._index_for(item.key), []).append(item)
        if deadline is None:
            deadline = _monotonic() + self.read_timeout
        for index, server_items in sorted(by_server.items()):
            ops = [(i.op, i.key, i.data, i.flags, i.ttl, i.noreply, i.cas) for i in server_items]
            results = self._write(self._servers[index], ops, deadline)
            for item, ok in zip(server_items, results, strict=True):
                if not item._computed:
                    item.set_value(ok)

    def _store_now(self, payload: dict[str, tuple[bytes, int]], expire: int) -> list[str]:
        """Store synchronously, waiting for memcached's answers; returns the keys that failed."""
        failed: list[str] = []
        by_server: dict[int, list[_WriteOp]] = {}
        for key, (data, flags) in payload.items():
            by_server.setdefault(self._index_for(key), []).append(
                ("set", key, data, flags, expire, False, 0)
            )
        deadline = _monotonic() + self.read_timeout
        for index, ops in sorted(by_server.items()):
            results = self._write(self._servers[index], ops, deadline)
            failed.extend(op[1] for op, ok in zip(ops, results, strict=True) if not ok)
        return failed

    def _delete_now(
        self, full: str, deadline: float | None = None, stale_ttl: int | None = None
    ) -> bool:
        """Delete ``full`` now; with ``stale_ttl``, mark it stale instead (``md ... I``): it is
        served as stale to readers of a stale-while-revalidate function while one of them
        recomputes it, and expires after ``stale_ttl`` seconds if nobody does."""
        if deadline is None:
            deadline = _monotonic() + self.read_timeout
        server = self._servers[self._index_for(full)]
        if stale_ttl is not None:
            op: _WriteOp = ("invalidate", full, b"", 0, stale_ttl, False, 0)
        else:
            op = ("delete", full, b"", 0, 0, False, 0)
        return self._write(server, [op], deadline)[0]

    def _write(self, server: _Server, ops: list[_WriteOp], deadline: float) -> list[bool]:
        """Send ``ops`` to ``server`` in one request and read the answers of those that wait
        for one, all before ``deadline`` (plus the time a new connection took to open).

        A write memcached refuses (``SERVER_ERROR object too large for cache``, out of memory)
        is False and logged; the server answered, so it is not a fault. A network or protocol
        error is a fault: every op is False and the server is backed off."""
        started = _monotonic()
        if server.down_until > started:
            return [False] * len(ops)
        conn = self._conn(server)
        results = [True] * len(ops)
        waiting: list[int] = []
        chunks: list[bytes] = []
        # Quiet meta writes first (a lease's write-back: stored only if the lease still holds;
        # a lease given back), ended by mn; their failures are read by whoever reads next.
        quiet_ops = 0
        for op, key, data, flags, ttl, _, cas in ops:
            if op == "lease-set":
                chunks.append(
                    b"ms %s %d T%d F%d C%d q\r\n" % (key.encode(), len(data), ttl, flags, cas)
                )
                chunks.append(data)
                chunks.append(b"\r\n")
                quiet_ops += 1
            elif op == "release":
                chunks.append(b"md %s C%d q\r\n" % (key.encode(), cas))
                quiet_ops += 1
        if quiet_ops:
            chunks.append(b"mn\r\n")
        for i, (op, key, data, flags, ttl, noreply, _) in enumerate(ops):
            tail = b" noreply\r\n" if noreply else b"\r\n"
            if op == "set":
                chunks.append(b"set %s %d %d %d%s" % (key.encode(), flags, ttl, len(data), tail))
                chunks.append(data)
                chunks.append(b"\r\n")
            elif op == "delete":
                chunks.append(b"delete %s%s" % (key.encode(), tail))
            elif op == "invalidate":
                chunks.append(b"md %s I T%d\r\n" % (key.encode(), ttl))
            else:
                continue
            if not noreply:
                waiting.append(i)
        local = self._local
        try:
            if conn.sock is None:
                conn._connect()
                local.quiet.pop(server.index, None)
                deadline += _monotonic() - started
            else:
                self._drain(server)
            sock = conn.sock
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete reply within read_timeout")
            sock.settimeout(remaining)
            sock.sendall(b"".join(chunks))
            quiet = local.quiet.pop(server.index, 0) + (1 if quiet_ops else 0)
            if waiting:
                lines = _read_lines(sock, len(waiting), deadline, quiet)
            else:
                lines = []
                if quiet:
                    local.quiet[server.index] = quiet
        except _FAULTS as error:  # a failed write is counted and reported, never raised
            self._fault(server, conn, error)
            return [False] * len(ops)
        except BaseException:
            conn.close()
            raise
        if not server.healthy:
            self._recovered(server)
        stats = self.stats
        for write in ops:
            if write[5]:
                if write[0] == "set" or write[0] == "lease-set":
                    stats.sets += 1
                else:
                    stats.deletes += 1
        resync = False
        for i, line in zip(waiting, lines, strict=True):
            name, key, data = ops[i][0], ops[i][1], ops[i][2]
            if line == b"STORED":
                stats.sets += 1
            elif line == b"DELETED" or line == b"HD":
                stats.deletes += 1
            elif line == b"NOT_STORED" or line == b"NOT_FOUND":
                results[i] = False
            else:
                results[i] = False
                resync = resync or not line.startswith(b"SERVER_ERROR")
                size = (
                    f" (the value is {len(data)} bytes; memcached's item size limit is its -I "
                    "option, 1 MB by default)"
                    if name == "set"
                    else ""
                )
                _log.warning(
                    "asynq.memcache: memcached %s did not %s %s: %s%s; the write returns False "
                    "and the server stays in use",
                    server.address,
                    "store" if name == "set" else "delete",
                    key,
                    line.decode("ascii", "replace")[:200],
                    size,
                )
        if resync:
            # ERROR / CLIENT_ERROR: memcached may read the rest of the request as commands.
            conn.close()
        return results


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


def _close_all(conns: Iterable[PymemcacheClient]) -> None:
    for conn in list(conns.values() if isinstance(conns, dict) else conns):
        conn.close()


def _failed_keys(items: dict[str, FutureBase[bool]]) -> Generator[Any, Any, list[str]]:
    results = yield list(items.values())
    return [key for key, ok in zip(items, results, strict=True) if not ok]


class ProtocolError(Exception):
    """memcached answered something the get protocol does not allow."""


# What counts as the server's fault (a miss, a backoff); anything else is the caller's and
# propagates, after the connection it interrupted is closed.
_FAULTS = (OSError, ProtocolError, MemcacheError)


def _read_reply(
    sock: socket.socket, deadline: float, ends: bytes, parse: Callable[[bytes], _R | None]
) -> _R:
    """Read one reply before ``deadline``: chunks are gathered until the reply can end (its
    last line is ``ends``, or an error line), then ``parse`` reads it in one pass; if it was
    only the start of the reply (a value merely looked like the end), reading goes on."""
    chunks: list[bytes] = []
    size = len(ends)
    while True:
        chunk = _recv(sock, deadline)
        chunks.append(chunk)
        if (
            chunk.endswith(ends)
            or (len(chunk) < size and b"".join(chunks[-size:]).endswith(ends))
            # ERROR, CLIENT_ERROR, SERVER_ERROR: the reply ends there.
            or (chunk.endswith(b"\r\n") and b"ERROR" in chunk)
        ):
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            out = parse(data)
            if out is not None:
                return out
            chunks = [data]


def _read_values(sock: socket.socket, deadline: float) -> list[tuple[str, int, bytes]]:
    """Read one ``get`` reply (``VALUE`` blocks up to ``END``) before ``deadline``."""
    return _read_reply(sock, deadline, b"END\r\n", _parse_values)


def _parse_values(data: bytes) -> list[tuple[str, int, bytes]] | None:
    """The values of a complete get reply, or None if ``data`` is only the start of one."""
    out: list[tuple[str, int, bytes]] = []
    append = out.append
    find = data.find
    pos = 0
    size_of_data = len(data)
    while True:
        end = find(b"\r\n", pos)
        if end < 0:
            return None
        if data.startswith(b"VALUE ", pos):
            parts = data[pos + 6 : end].split()
            try:
                flags = int(parts[1])
                size = int(parts[2])
            except (IndexError, ValueError):
                raise ProtocolError(f"malformed VALUE line {data[pos:end][:80]!r}") from None
            start = end + 2
            stop = start + size
            if stop + 2 > size_of_data:
                return None
            if data[stop : stop + 2] != b"\r\n":
                raise ProtocolError("a value is not followed by \\r\\n")
            append((parts[0].decode("ascii"), flags, data[start:stop]))
            pos = stop + 2
        elif end == pos + 3 and data[pos:end] == b"END":
            if end + 2 != size_of_data:
                raise ProtocolError("memcached sent more than the reply to one get")
            return out
        elif data.startswith((b"ERROR", b"SERVER_ERROR", b"CLIENT_ERROR"), pos):
            raise ProtocolError(f"memcached answered a get with {data[pos:end][:120]!r}")
        else:
            raise ProtocolError(f"unexpected reply line {data[pos:end][:80]!r}")


def _read_lines(sock: socket.socket, count: int, deadline: float, quiet: int = 0) -> list[bytes]:
    """Read ``quiet`` runs of quiet write answers, then ``count`` one-line replies (to sets
    and deletes), before ``deadline``."""
    data = b""
    while True:
        data += _recv(sock, deadline)
        if not data.endswith(b"\r\n"):
            continue
        start = _skip_quiet(data, 0, quiet)
        if start is None:
            continue
        lines = data[start:].split(b"\r\n")
        if len(lines) < count + 1:
            continue
        if len(lines) != count + 1 or lines[-1]:
            raise ProtocolError(f"memcached sent more than {count} replies: {data[:80]!r}")
        return lines[:-1]


# The lease state bits of a meta get reply (defined in batch.py): W, this caller computes the
# value; Z, another caller already does; X, the item is stale (a stale-while-revalidate dirty).
_MG = b" v f\r\n"
# What a meta get request's replies come to: the hits (key, flags, data), the lease states,
# and the reply itself (parsed again, rarely, for the cas of a hit: see _cas_of).
_MetaResult = tuple[list[tuple[str, int, bytes]], dict[str, tuple[int, int]], bytes]
_STATE_BITS = {87: 1, 90: 2, 88: STALE}  # W (WIN), Z (LOST), X


def _read_meta(sock: socket.socket, deadline: float, keys: list[str], quiet: int) -> _MetaResult:
    """Read ``quiet`` runs of quiet write answers, then the meta get replies of ``keys`` and
    ``MN``, before ``deadline``."""
    return _read_reply(sock, deadline, b"MN\r\n", lambda data: _parse_meta(data, keys, quiet))


def _skip_quiet(data: bytes, pos: int, quiet: int) -> int | None:
    """The position after ``quiet`` runs of quiet write answers (each: failure lines, then
    ``MN``), or None if ``data`` ends before."""
    while quiet:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        line = data[pos:end]
        pos = end + 2
        if line == b"MN":
            quiet -= 1
        elif line in (b"NF", b"EX", b"NS") or line.startswith((b"SERVER_ERROR", b"CLIENT_ERROR")):
            # A write-back that lost its lease (NF, EX) or was refused: nobody waits for it.
            continue
        else:
            raise ProtocolError(f"unexpected answer to a quiet write {line[:80]!r}")
    return pos


def _parse_meta(
    data: bytes, keys: list[str], quiet: int, tokens: dict[str, bytes] | None = None
) -> _MetaResult | None:
    """The replies to meta gets of ``keys``, or None if ``data`` is only the start of them:
    the hits as (key, flags, data), placeholders left out, {key: (state, cas)} for the keys
    with a lease state (stale items are hits too, and have a state), and ``data``. With
    ``tokens``, also put there the cas token (``b"c<cas>"``) of every hit that has one."""
    size_of_data = len(data)
    skipped = _skip_quiet(data, 0, quiet)
    if skipped is None:
        return None
    pos = skipped
    out: list[tuple[str, int, bytes]] = []
    leases: dict[str, tuple[int, int]] = {}
    append = out.append
    find = data.find
    bits = _STATE_BITS
    for key in keys:
        end = find(b"\r\n", pos)
        if end < 0:
            return None
        if data.startswith(b"VA ", pos):
            parts = data[pos + 3 : end].split()
            count = len(parts)  # once: this loop runs once per key of the round
            flags = state = 0
            try:
                size = int(parts[0])
                # Tokens come back in the order asked (f, then c), lease flags after them.
                if count > 1 and parts[1][0] == 102:  # f
                    flags = int(parts[1][1:])
                if count > 3 or (count == 3 and parts[2][0] != 99):
                    cas_token = b"c0"
                    for token in parts[2:]:
                        if token[0] == 99:  # c
                            cas_token = token
                        else:
                            state |= bits.get(token[0], 0)  # W, Z, X
                    if state:  # the cas of a plain hit is needed rarely: see _cas_of
                        leases[key] = (state, int(cas_token[1:]))
                    elif tokens is not None:
                        tokens[key] = cas_token
                elif tokens is not None and count == 3:
                    tokens[key] = parts[2]
            except (IndexError, ValueError):
                raise ProtocolError(f"malformed VA line {data[pos:end][:80]!r}") from None
            start = end + 2
            stop = start + size
            if stop + 2 > size_of_data:
                return None
            if data[stop : stop + 2] != b"\r\n":
                raise ProtocolError("a value is not followed by \\r\\n")
            if not state or state & STALE:  # else a placeholder: someone computes the value
                append((key, flags, data[start:stop]))
            pos = stop + 2
        elif end == pos + 2 and data.startswith(b"EN", pos):
            pos = end + 2
        elif data.startswith((b"ERROR", b"SERVER_ERROR", b"CLIENT_ERROR"), pos):
            line = data[pos:end][:120]
            hint = (
                " (memcached before 1.6 has no meta commands: pass leases=False)"
                if line == b"ERROR"
                else ""
            )
            raise ProtocolError(f"memcached answered a get with {line!r}{hint}")
        else:
            raise ProtocolError(f"unexpected reply line {data[pos:end][:80]!r}")
    end = find(b"\r\n", pos)
    if end < 0:
        return None
    if end != pos + 2 or not data.startswith(b"MN", pos) or end + 2 != size_of_data:
        raise ProtocolError("memcached sent more than the replies to one request")
    return out, leases, data


def _cas_of(key: str, part: _Sent) -> int:
    """The cas of ``key``'s value in ``part``'s meta get reply, or 0 if the get did not ask
    for one. Needed only when a cached function's read finds a value it did not write, so
    the reply is parsed again then instead of keeping every hit's cas on the read path."""
    if part.meta is None or part.keys is None:
        return 0
    tokens = part.tokens
    if tokens is None:
        tokens = part.tokens = {}
        _parse_meta(part.meta[2], part.keys, part.quiet, tokens)
    token = tokens.get(key)
    return int(token[1:]) if token else 0


def _recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - _monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete reply within read_timeout")
    sock.settimeout(remaining)
    chunk = sock.recv(262144)
    if not chunk:
        raise ConnectionError("memcached closed the connection")
    return chunk

"""The server pool: memcached servers, where keys live, connections, health, and the I/O.

A ``MemcacheClient`` keeps its configuration, its public API and its request scopes; everything
that touches a server goes through its ``ServerPool``:

- placement: ``index_for(key)`` and ``group(keys)`` say which server holds a key, as the
  pymemcache client the user handed over places it (``cluster.py``);
- connections: one pymemcache ``Client`` per server and thread (a socket, its timeouts, TLS),
  closed when the thread ends, when the pool is closed or retargeted;
- health: a server that fails is backed off for ``retry_after`` seconds (its keys are misses
  meanwhile), counted in ``stats.errors`` and logged at most once per ``log_interval`` seconds;
- reads, in two phases so that a round costs one round trip however many servers take part:
  ``send_gets`` sends every server its request and reads nothing, ``read_gets`` reads the
  replies (a reply still on a socket when something else needs the connection is read first
  and kept for its round);
- writes: ``write`` sends one server's writes in one request and reads the answers of those
  that wait for one; ``send`` spreads writes over their servers; quiet writes (a lease's
  write-back) are confirmed by whoever reads next on the connection, or by ``confirm_quiet``.

The wire format is ``protocol.py``'s. The one use of a private name of pymemcache is
``open_connection``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pymemcache.client.base import Client as PymemcacheClient

from .cluster import HasherPlacement, HashRing, Rendezvous
from .protocol import (
    FAULTS,
    MetaResult,
    WriteOp,
    encode_gets,
    encode_writes,
    parse_meta,
    read_lines,
    read_meta,
    read_values,
)
from .serde import FLAG_CACHED, FLAG_COMPRESSED

if TYPE_CHECKING:
    from qcore.events import EventHook

__all__ = [
    "GetPlan",
    "GetResult",
    "PoolConfig",
    "RoundTrip",
    "SentGets",
    "Server",
    "ServerPool",
    "open_connection",
    "placement",
]

_log = logging.getLogger("asynq.memcache")
_monotonic = time.monotonic
#: Classic write commands, which ``noreply`` leaves unanswered.
_CLASSIC_WRITES = ("set", "delete")
# Flags bits that say how a value is encoded, beyond compression and asynq's bytes mark: zero
# means plain bytes.
_RAW_MASK = ~(FLAG_CACHED | FLAG_COMPRESSED)

Placement = HashRing | Rendezvous | HasherPlacement


@dataclass
class RoundTrip:
    """One multi-get as seen by ``MemcacheClient.on_round_trip`` subscribers."""

    #: The full memcached keys requested, in request order, without duplicates.
    keys: list[str]
    #: How many of them were found (and decoded).
    hits: int
    #: Wall time from sending the first request to reading the last reply.
    seconds: float
    #: How many servers the keys were sent to.
    servers: int


class PoolConfig(Protocol):
    """What a pool reads from its client, live (a test may change ``retry_after``)."""

    key_prefix: str
    connect_timeout: float
    read_timeout: float
    retry_after: float
    log_interval: float
    leases: bool
    lease_ttl: int
    serializer: Any
    stats: Any
    on_round_trip: EventHook


def open_connection(conn: PymemcacheClient) -> None:
    """Open ``conn``'s socket now, with its timeouts, TLS and socket module.

    The adapter to pymemcache: its ``Client`` connects lazily inside its own commands, while a
    flush writes to the socket itself, so it calls ``Client._connect`` (pymemcache 3 and 4),
    here and nowhere else."""
    conn._connect()


def placement(hashing: object, addresses: list[str], settings: dict[str, Any]) -> Placement | None:
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


class Server:
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


class _Connections:
    """One thread's connections, by server index. They are closed when the thread ends (when
    this is collected), so short-lived threads do not pile up connections until memcached
    refuses new ones."""

    __slots__ = ("conns", "unread", "quiet", "unsynced", "__weakref__")

    def __init__(self) -> None:
        self.conns: dict[int, PymemcacheClient] = {}
        # Per server, a get whose reply is still on the socket (between a round's two phases).
        self.unread: dict[int, SentGets] = {}
        # Per server, how many runs of quiet meta writes (each ended by ``mn``) have answers
        # (failures, then ``MN``) still on the socket for the next reader to skip.
        self.quiet: dict[int, int] = {}
        # The servers sent classic ``noreply`` writes that nothing read after them has
        # confirmed yet (a reply read later on the same connection does: memcached answers in
        # order).
        self.unsynced: set[int] = set()
        weakref.finalize(self, _close_all, self.conns)


class SentGets:
    """One server's part of a flush: its request is on the socket, its reply not read yet.

    ``keys`` is None for a classic ``get``; for meta gets (``mg`` per key, then ``mn``) it is the
    keys in request order and ``quiet`` the runs of quiet writes whose answers come first."""

    __slots__ = ("server", "conn", "deadline", "raw", "error", "keys", "quiet", "meta", "tokens")

    def __init__(
        self,
        server: Server,
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
        self.meta: MetaResult | None = None
        #: The cas tokens of the hits, parsed from the reply when first needed (``cas_of``).
        self.tokens: dict[str, bytes] | None = None

    def read(self) -> None:
        """Read the reply off the socket (once)."""
        if self.raw is None and self.meta is None and self.error is None:
            try:
                if self.keys is not None:
                    self.meta = read_meta(self.conn.sock, self.deadline, self.keys, self.quiet)
                else:
                    self.raw = read_values(self.conn.sock, self.deadline)
                self.conn.sock.settimeout(self.conn.timeout)
            except FAULTS as error:  # the flush turns it into misses
                self.error = error
            except BaseException:
                # Interrupted (KeyboardInterrupt, a deadline from a signal handler): the rest of
                # the reply would be read as the next command's. The caller gets the exception.
                self.conn.close()
                raise

    def cas_of(self, key: str) -> int:
        """The cas of ``key``'s value in this meta get reply, or 0 if the get did not ask for
        one. Needed only when a cached function's read finds a value it did not write, so the
        reply is parsed again then instead of keeping every hit's cas on the read path."""
        if self.meta is None or self.keys is None:
            return 0
        tokens = self.tokens
        if tokens is None:
            tokens = self.tokens = {}
            parse_meta(self.meta[2], self.keys, self.quiet, tokens)
        token = tokens.get(key)
        return int(token[1:]) if token else 0


# A flush: (keys, the servers' parts, when it started, how many servers the keys go to).
GetPlan = tuple[list[str], list[SentGets], float, int]
# What a round's replies come to: {key: decoded value} for the hits, {key: cas} for values no
# cached function wrote, {key: (lease state bits, cas)} for meta gets with a lease state.
GetResult = tuple[dict[str, Any], dict[str, int], dict[str, tuple[int, int]]]


class ServerPool:
    """The servers of one client, their connections (per thread) and health, and the I/O."""

    def __init__(
        self,
        config: PoolConfig,
        pairs: list[tuple[str, int]],
        settings: dict[str, Any],
        hashing: str | None,
    ) -> None:
        self.config = config
        self.hashing = hashing
        self.settings = settings
        self.servers = [Server(i, host, port) for i, (host, port) in enumerate(pairs)]
        self._next_index = len(pairs)
        self.ring = placement(hashing, [s.address for s in self.servers], settings)
        self._route: dict[str, int] = {}
        # The flags of a meta get that asks for a lease, for the lease_ttl they were made for.
        self._lease_flags: tuple[bytes, int] = (b"", -1)
        # A plain threading.local holding one _Connections per thread: reading a plain object's
        # attributes is much cheaper than reading a threading.local subclass's.
        self._tls = threading.local()
        # Every open connection of every live thread, closed by close() or when the pool is
        # collected (a thread's own connections are closed when the thread ends).
        self._all_conns: weakref.WeakSet[PymemcacheClient] = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _close_all, self._all_conns)

    # -- servers and placement -------------------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        """The ``"host:port"`` of every server, in the order given."""
        return [s.address for s in self.servers]

    @property
    def pairs(self) -> list[tuple[str, int]]:
        """The (host, port) of every server, in the order given."""
        return [(s.host, s.port) for s in self.servers]

    def index_for(self, key: str) -> int:
        """The index in ``servers`` of the server that holds the full key ``key``."""
        ring = self.ring
        if ring is None:
            return 0
        index = self._route.get(key)
        if index is None:
            if len(self._route) > 100_000:
                self._route.clear()
            # Placed by the key without the prefix, as pymemcache's HashClient places it.
            prefix = self.config.key_prefix
            bare = key[len(prefix) :] if prefix and key.startswith(prefix) else key
            index = self._route[key] = ring.index_for(bare)
        return index

    def routed_keys(self) -> list[str]:
        """The keys placed recently (placement is remembered for up to 100,000 keys)."""
        return list(self._route)

    def group(self, keys: list[str]) -> list[tuple[int, list[str]]]:
        """``keys`` grouped by server index, in server order."""
        if self.ring is None:
            return [(0, keys)]
        groups: dict[int, list[str]] = {}
        route = self._route
        for key in keys:
            index = route.get(key)
            if index is None:
                index = self.index_for(key)
            group = groups.get(index)
            if group is None:
                groups[index] = [key]
            else:
                group.append(key)
        return sorted(groups.items())

    def use(self, pairs: list[tuple[str, int]], settings: dict[str, Any]) -> None:
        """Point the pool at other servers: this thread's writes are confirmed first, then
        every connection (of every thread) is closed."""
        # Write-backs go without a reply; one command that answers on each of this thread's
        # connections makes sure the server has applied them before the connection closes.
        local = self._thread()
        for conn in local.conns.values():
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
        self.servers = [Server(first + i, h, p) for i, (h, p) in enumerate(pairs)]
        self.settings = settings
        self.ring = placement(self.hashing, [s.address for s in self.servers], settings)
        self._route = {}
        local.unread.clear()
        local.quiet.clear()
        local.unsynced.clear()
        local.conns.clear()

    def close(self) -> None:
        """Close the connections (of every thread); the next request opens new ones."""
        _close_all(self._all_conns)

    # -- connections and health ------------------------------------------------------------

    def _thread(self) -> _Connections:
        try:
            local: _Connections = self._tls.state
        except AttributeError:
            local = self._tls.state = _Connections()
        return local

    def unconfirmed_writes(self) -> dict[str, int]:
        """Per server address, the runs of quiet writes this thread sent whose answers are not
        read yet (empty once memcached has confirmed them all)."""
        local = self._thread()
        by_index = {s.index: s.address for s in self.servers}
        return {by_index.get(i, str(i)): n for i, n in local.quiet.items() if n}

    def _conn(self, server: Server) -> PymemcacheClient:
        conns = self._thread().conns
        conn = conns.get(server.index)
        if conn is None:
            settings = self.settings
            config = self.config
            conn = conns[server.index] = PymemcacheClient(
                (server.host, server.port),
                connect_timeout=config.connect_timeout,
                timeout=config.read_timeout,
                no_delay=True,
                socket_module=settings.get("socket_module", socket),
                tls_context=settings.get("tls_context"),
                default_noreply=False,
            )
            self._all_conns.add(conn)
        return conn

    def _fault(self, server: Server, conn: PymemcacheClient | None, error: BaseException) -> None:
        """A server failed: close its connection, count, log (rate-limited), back off."""
        if conn is not None:
            conn.close()
        config = self.config
        now = _monotonic()
        server.down_until = now + config.retry_after
        server.healthy = False
        config.stats.errors += 1
        if now - server.last_logged >= config.log_interval:
            server.last_logged = now
            _log.warning(
                "asynq.memcache: memcached %s failed (%s: %s); its keys are treated as misses "
                "and it is retried after %.1f s (logged at most once per %.0f s per server)",
                server.address,
                type(error).__name__,
                error,
                config.retry_after,
                config.log_interval,
            )

    def _recovered(self, server: Server) -> None:
        server.healthy = True
        _log.info("asynq.memcache: memcached %s answers again", server.address)

    def _drain(self, server: Server) -> None:
        """Read a reply still waiting on ``server``'s socket (kept for the flush it belongs to),
        so that the socket can carry another command: something ran between a round's sends
        and reads (a hook, another batch's flush) and used this client."""
        part = self._thread().unread.pop(server.index, None)
        if part is not None:
            part.read()

    # -- reads -----------------------------------------------------------------------------

    def send_gets(self, keys: list[str], raw: set[str] | None = None) -> GetPlan:
        """Send the gets of ``keys`` to every server involved; read nothing.

        With leases (the client's ``leases``), every key is a meta get (``mg``), and the keys
        not in ``raw`` (cached functions' keys) ask for a lease on a miss; the gets of a server
        end with ``mn``, so they still make one request and one reply per server. ``raw`` None:
        every key is a plain read."""
        started = _monotonic()
        sent: list[SentGets] = []
        groups = self.group(keys)
        local = self._thread()
        config = self.config
        meta = config.leases
        lease_flags = self._lease_flags
        if meta and lease_flags[1] != config.lease_ttl:
            lease_flags = self._lease_flags = (
                b" v f c N%d\r\n" % config.lease_ttl,
                config.lease_ttl,
            )
        read_timeout = config.read_timeout
        if raw is None:
            raw = set(keys)  # gets made outside a batch: plain reads
        for index, group in groups:
            server = self.servers[index]
            if server.down_until > started:
                continue
            conn = self._conn(server)
            quiet = 0
            try:
                if conn.sock is None:
                    open_connection(conn)
                    local.quiet.pop(server.index, None)
                else:
                    self._drain(server)
                if meta:
                    quiet = local.quiet.pop(server.index, 0)
                conn.sock.sendall(encode_gets(group, meta, raw, lease_flags[0]))
                # This round reads the reply, which comes after the writes sent before it.
                local.unsynced.discard(server.index)
            except FAULTS as error:  # a fault is a miss, never an exception
                self._fault(server, conn, error)
                continue
            except BaseException:
                conn.close()
                raise
            part = SentGets(
                server, conn, _monotonic() + read_timeout, group if meta else None, quiet
            )
            local.unread[server.index] = part
            sent.append(part)
        return keys, sent, started, len(groups)

    def read_gets(self, plan: GetPlan) -> GetResult:
        """Read the replies of ``send_gets``: {key: value decoded by the client's serializer}
        for the hits; the keys whose value no cached function wrote (plain bytes without
        ``FLAG_CACHED``, or a value the serializer cannot decode), each with the cas of that value (0 if the get did not
        ask for one), under which a cached function may replace it; and for meta gets the lease
        state of the keys that have one: {key: (WIN/LOST/STALE bits, cas)}.

        This is where a value is judged to be a cached function's own or another client's,
        for every read path (a cached call, synchronous or batched, and a primed key).

        A lease placeholder (an empty item someone is computing) is not a hit; a stale item
        (invalidated by ``dirty`` of a stale-while-revalidate function) is in ``found`` and
        marked STALE. The round is counted in ``stats`` and reported to ``on_round_trip``."""
        keys, sent, started, servers = plan
        found: dict[str, Any] = {}
        foreign: dict[str, int] = {}
        leases: dict[str, tuple[int, int]] = {}
        config = self.config
        stats = config.stats
        serializer = config.serializer
        deserialize = serializer.deserialize
        unread = self._thread().unread
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
                        foreign[key] = part.cas_of(key)
                try:
                    found[key] = deserialize(key, data, flags)
                except Exception as error:  # noqa: BLE001 - an undecodable value is a miss
                    foreign[key] = part.cas_of(key)
                    stats.errors += 1
                    _log.error(
                        "asynq.memcache: the value of %s on %s cannot be decoded by %r (%s); "
                        "treating it as a miss",
                        key,
                        server.address,
                        serializer,
                        error,
                    )
        seconds = _monotonic() - started
        stats.round_trips += 1
        stats.keys_requested += len(keys)
        stats.hits += len(found)
        stats.misses += len(keys) - len(found)
        stats.flush_seconds += seconds
        config.on_round_trip(RoundTrip(keys, len(found), seconds, servers))
        return found, foreign, leases

    # -- writes ----------------------------------------------------------------------------

    def send(self, ops: list[WriteOp], deadline: float | None = None) -> list[bool]:
        """Send ``ops`` to their servers (one request per server, in server order) and return
        whether each was stored (or deleted), in the order of ``ops``."""
        by_server: dict[int, list[int]] = {}
        for i, op in enumerate(ops):
            by_server.setdefault(self.index_for(op[1]), []).append(i)
        if deadline is None:
            deadline = _monotonic() + self.config.read_timeout
        results = [False] * len(ops)
        for index, positions in sorted(by_server.items()):
            oks = self.write(self.servers[index], [ops[i] for i in positions], deadline)
            for i, ok in zip(positions, oks, strict=True):
                results[i] = ok
        return results

    def delete(self, key: str, stale_ttl: int | None = None) -> bool:
        """Delete ``key`` now, waiting for the answer (whether memcached had it); with
        ``stale_ttl``, mark it stale instead (``md ... I``): it is served as stale to readers
        of a stale-while-revalidate function while one of them recomputes it, and expires
        after ``stale_ttl`` seconds if nobody does."""
        if stale_ttl is not None:
            op: WriteOp = ("invalidate", key, b"", 0, stale_ttl, False, 0)
        else:
            op = ("delete", key, b"", 0, 0, False, 0)
        return self.send([op])[0]

    def write(self, server: Server, ops: list[WriteOp], deadline: float) -> list[bool]:
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
        request, waiting, quiet_ops = encode_writes(ops)
        local = self._thread()
        try:
            if conn.sock is None:
                open_connection(conn)
                local.quiet.pop(server.index, None)
                local.unsynced.discard(server.index)
                deadline += _monotonic() - started
            else:
                self._drain(server)
            sock = conn.sock
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete reply within read_timeout")
            sock.settimeout(remaining)
            sock.sendall(request)
            quiet = local.quiet.pop(server.index, 0) + (1 if quiet_ops else 0)
            if waiting:
                lines = read_lines(sock, len(waiting), deadline, quiet)
                local.unsynced.discard(server.index)
            else:
                if any(op[5] and op[0] in _CLASSIC_WRITES for op in ops):
                    local.unsynced.add(server.index)
                lines = []
                if quiet:
                    local.quiet[server.index] = quiet
        except FAULTS as error:  # a failed write is counted and reported, never raised
            self._fault(server, conn, error)
            return [False] * len(ops)
        except BaseException:
            conn.close()
            raise
        if not server.healthy:
            self._recovered(server)
        stats = self.config.stats
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

    def has_unconfirmed(self) -> bool:
        """Whether this thread sent quiet or ``noreply`` writes that no reply read since has
        confirmed."""
        local = self._thread()
        return bool(local.quiet or local.unsynced)

    def confirm_quiet(self) -> None:
        """Wait until memcached has applied the quiet and ``noreply`` writes this thread sent:
        read the answers of quiet meta writes (each run ends with ``MN``), and where classic
        ``noreply`` writes went, send one ``version`` and read its answer (memcached answers in
        order, so it comes after them)."""
        self._settle(every_connection=False)

    def sync(self) -> None:
        """Return once memcached has applied everything this thread sent on its open
        connections (one ``version`` per connection, answered after what came before it)."""
        self._settle(every_connection=True)

    def _settle(self, every_connection: bool) -> None:
        """``confirm_quiet`` (only where something is unconfirmed) or ``sync`` (every open
        connection asks for a ``version``)."""
        local = self._thread()
        deadline = _monotonic() + self.config.read_timeout
        for server in self.servers:
            index = server.index
            if not every_connection and not local.quiet.get(index) and index not in local.unsynced:
                continue
            conn = local.conns.get(index)
            if conn is None or conn.sock is None:
                local.quiet.pop(index, None)
                local.unsynced.discard(index)
                continue
            try:
                self._drain(server)
                quiet = local.quiet.pop(index, 0)
                ask = every_connection or index in local.unsynced
                local.unsynced.discard(index)
                if ask:
                    # Answered after everything sent before it on this connection.
                    conn.sock.settimeout(max(deadline - _monotonic(), 0.001))
                    conn.sock.sendall(b"version\r\n")
                    read_lines(conn.sock, 1, deadline, quiet)
                    conn.sock.settimeout(conn.timeout)
                elif quiet:
                    read_lines(conn.sock, 0, deadline, quiet)
                    conn.sock.settimeout(conn.timeout)
            except FAULTS as error:
                self._fault(server, conn, error)
            except BaseException:
                conn.close()
                raise


def _close_all(conns: Iterable[PymemcacheClient] | dict[int, PymemcacheClient]) -> None:
    for conn in list(conns.values() if isinstance(conns, dict) else conns):
        conn.close()

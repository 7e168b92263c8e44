"""An in-process memcached: a small threaded server speaking memcached's text protocol.

It implements the subset pymemcache and asynq use: ``get``/``gets`` with many keys, ``set``,
``add``, ``replace``, ``append``, ``prepend``, ``cas``, ``delete``, ``incr``, ``decr``, ``touch``,
``flush_all``, ``version``, ``stats`` (a few counters), ``verbosity`` and ``quit``, with
``noreply`` and memcached's exptime rules (0: never; negative: already expired; more than 30
days: a Unix timestamp). Items are evicted least recently used first beyond ``max_bytes``.

Of memcached 1.6's meta commands it speaks what asynq's leases use: ``mg`` (flags ``v f c k t s
q N``; returns ``W``, ``Z``, ``X``), ``ms`` (``T F C I q``, mode ``S`` or ``E``), ``md`` (``q I T
C``) and ``mn``, with memcached's rules: a miss with ``N`` creates an empty placeholder and
gives its first reader the win (``W``), later readers see ``Z`` until a set replaces it; ``md``
with ``I`` marks an item stale (``X``) and hands one win to the next reader.

Because it is a real TCP server on 127.0.0.1, the client code path is exactly the one used with
memcached: the demo falls back to it when the binary is missing, and the tests run the same client
tests against both. ``advance(seconds)`` moves its clock, so expiry is testable without sleeping.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["EmbeddedServer", "MAX_KEY_LENGTH", "MAX_ITEM_SIZE"]

MAX_KEY_LENGTH = 250
MAX_ITEM_SIZE = 1024 * 1024
_THIRTY_DAYS = 60 * 60 * 24 * 30
_STORE_COMMANDS = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}


class _ClientError(Exception):
    pass


@dataclass
class _Item:
    flags: int
    data: bytes
    expires: float  # absolute wall-clock time, 0 for never
    cas: int
    won: bool = False  # a win (W) was handed out: later readers see Z
    stale: bool = False  # invalidated (md ... I): readers see X


class _Store:
    """The items, guarded by one lock; times come from ``now()`` (wall clock plus an offset)."""

    def __init__(self, max_bytes: int) -> None:
        self.items: OrderedDict[bytes, _Item] = OrderedDict()
        self.lock = threading.Lock()
        self.max_bytes = max_bytes
        self.bytes = 0
        self.offset = 0.0
        self.next_cas = 1
        self.stats = {"cmd_get": 0, "get_hits": 0, "get_misses": 0, "cmd_set": 0}

    def now(self) -> float:
        return time.time() + self.offset

    def expiry(self, exptime: int) -> float:
        if exptime == 0:
            return 0.0
        if exptime < 0:
            return -1.0
        if exptime > _THIRTY_DAYS:
            return float(exptime)
        return self.now() + exptime

    def live(self, key: bytes) -> _Item | None:
        item = self.items.get(key)
        if item is None:
            return None
        if item.expires and (item.expires < 0 or item.expires <= self.now()):
            self._remove(key)
            return None
        self.items.move_to_end(key)
        return item

    def put(self, key: bytes, flags: int, data: bytes, exptime: int) -> None:
        self._remove(key)
        item = _Item(flags, data, self.expiry(exptime), self.next_cas)
        self.next_cas += 1
        self.items[key] = item
        self.bytes += len(key) + len(data)
        while self.bytes > self.max_bytes and self.items:
            oldest = next(iter(self.items))
            self._remove(oldest)

    def _remove(self, key: bytes) -> bool:
        item = self.items.pop(key, None)
        if item is None:
            return False
        self.bytes -= len(key) + len(item.data)
        return True

    def delete(self, key: bytes) -> bool:
        return self.live(key) is not None and self._remove(key)


def _check_key(key: bytes) -> bytes:
    if len(key) > MAX_KEY_LENGTH or any(b <= 32 or b == 127 for b in key):
        raise _ClientError("bad command line format")
    return key


def _int(token: bytes) -> int:
    try:
        return int(token)
    except ValueError:
        raise _ClientError("bad command line format") from None


class _Connection:
    """One client connection: reads commands, answers them in order."""

    def __init__(self, server: EmbeddedServer, sock: socket.socket) -> None:
        self.server = server
        self.store = server.store
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _line(self) -> bytes | None:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 2]
                return line
            if len(self.buf) > 1024 * 1024:
                return None  # no sane command line is that long
            if not self._fill():
                return None

    def _data(self, size: int) -> bytes | None:
        while len(self.buf) < size + 2:
            if not self._fill():
                return None
        data = bytes(self.buf[:size])
        terminator = bytes(self.buf[size : size + 2])
        del self.buf[: size + 2]
        if terminator != b"\r\n":
            raise _ClientError("bad data chunk")
        return data

    def serve(self) -> None:
        try:
            while True:
                line = self._line()
                if line is None:
                    return
                self.server._wait_if_paused()
                if self.server._stopping:
                    return
                try:
                    reply = self.handle(line)
                except _ClientError as error:
                    reply = b"CLIENT_ERROR " + str(error).encode() + b"\r\n"
                if reply is None:
                    return
                if reply:
                    self.sock.sendall(reply)
        except OSError:
            return
        finally:
            self.server._forget(self.sock)

    def handle(self, line: bytes) -> bytes | None:
        parts = line.split()
        if not parts:
            return b"ERROR\r\n"
        command = parts[0]
        store = self.store
        if command in (b"get", b"gets"):
            if len(parts) < 2:
                return b"ERROR\r\n"
            out = []
            with store.lock:
                for key in parts[1:]:
                    _check_key(key)
                    store.stats["cmd_get"] += 1
                    item = store.live(key)
                    if item is None:
                        store.stats["get_misses"] += 1
                        continue
                    store.stats["get_hits"] += 1
                    head = b"VALUE %s %d %d" % (key, item.flags, len(item.data))
                    if command == b"gets":
                        head += b" %d" % item.cas
                    out.append(head + b"\r\n" + item.data + b"\r\n")
            out.append(b"END\r\n")
            return b"".join(out)
        if command in _STORE_COMMANDS:
            return self._store_command(command, parts)
        if command in (b"mg", b"ms", b"md", b"mn"):
            return self._meta_command(command, parts)
        noreply = parts[-1] == b"noreply"
        if noreply:
            parts = parts[:-1]
        reply = self._other_command(command, parts)
        if reply is None:
            return None
        return b"" if noreply else reply

    def _store_command(self, command: bytes, parts: list[bytes]) -> bytes:
        want = 6 if command == b"cas" else 5
        noreply = len(parts) == want + 1 and parts[-1] == b"noreply"
        if len(parts) != want + noreply:
            raise _ClientError("bad command line format")
        key = _check_key(parts[1])
        flags, exptime, size = _int(parts[2]), _int(parts[3]), _int(parts[4])
        if size < 0 or flags < 0 or flags >= 2**32:
            raise _ClientError("bad command line format")
        data = self._data(size)
        if data is None:
            return b""
        if size > MAX_ITEM_SIZE:
            return b"" if noreply else b"SERVER_ERROR object too large for cache\r\n"
        store = self.store
        with store.lock:
            store.stats["cmd_set"] += 1
            item = store.live(key)
            if command == b"set":
                store.put(key, flags, data, exptime)
                reply = b"STORED"
            elif command == b"add":
                reply = b"NOT_STORED" if item else b"STORED"
                if item is None:
                    store.put(key, flags, data, exptime)
            elif command == b"replace":
                reply = b"STORED" if item else b"NOT_STORED"
                if item is not None:
                    store.put(key, flags, data, exptime)
            elif command in (b"append", b"prepend"):
                reply = b"STORED" if item else b"NOT_STORED"
                if item is not None:
                    joined = item.data + data if command == b"append" else data + item.data
                    expires = item.expires
                    store.put(key, item.flags, joined, 0)
                    store.items[key].expires = expires
            else:  # cas
                unique = _int(parts[5])
                if item is None:
                    reply = b"NOT_FOUND"
                elif item.cas != unique:
                    reply = b"EXISTS"
                else:
                    store.put(key, flags, data, exptime)
                    reply = b"STORED"
        return b"" if noreply else reply + b"\r\n"

    def _meta_command(self, command: bytes, parts: list[bytes]) -> bytes:
        if command == b"mn":
            return b"MN\r\n"
        if len(parts) < 2:
            raise _ClientError("bad command line format")
        key = _check_key(parts[1])
        store = self.store
        if command == b"ms":
            if len(parts) < 3:
                raise _ClientError("bad command line format")
            size = _int(parts[2])
            flags = {token[:1]: token[1:] for token in parts[3:]}
            data = self._data(size)
            if data is None:
                return b""
            quiet = b"q" in flags
            if size > MAX_ITEM_SIZE:
                return b"SERVER_ERROR object too large for cache\r\n"
            with store.lock:
                store.stats["cmd_set"] += 1
                item = store.live(key)
                if b"C" in flags and item is None:
                    return b"NF\r\n"
                if b"C" in flags and item is not None and item.cas != _int(flags[b"C"]):
                    return b"EX\r\n"
                if flags.get(b"M", b"S").upper() == b"E" and item is not None:
                    return b"NS\r\n"
                store.put(key, _int(flags.get(b"F", b"0")), data, _int(flags.get(b"T", b"0")))
            return b"" if quiet else b"HD\r\n"
        flags = {token[:1]: token[1:] for token in parts[2:]}
        quiet = b"q" in flags
        if command == b"md":
            with store.lock:
                item = store.live(key)
                if item is None:
                    return b"NF\r\n"
                if b"C" in flags and item.cas != _int(flags[b"C"]):
                    return b"EX\r\n"
                if b"I" in flags:
                    item.stale = True
                    item.won = False
                    item.cas = store.next_cas
                    store.next_cas += 1
                    if b"T" in flags:
                        item.expires = store.expiry(_int(flags[b"T"]))
                else:
                    store.delete(key)
            return b"" if quiet else b"HD\r\n"
        # mg
        with store.lock:
            store.stats["cmd_get"] += 1
            item = store.live(key)
            returned: list[bytes] = []
            if item is None:
                store.stats["get_misses"] += 1
                if b"N" not in flags:
                    return b"" if quiet else b"EN\r\n"
                store.put(key, 0, b"", _int(flags[b"N"]))
                item = store.items[key]
                item.won = True
                returned.append(b"W")
            else:
                store.stats["get_hits"] += 1
                if item.stale:
                    returned.append(b"X")
                if item.stale and not item.won:  # the first reader of a stale item recomputes
                    item.won = True
                    returned.insert(0, b"W")
                elif item.won:  # someone else holds the win: a placeholder, or a stale item
                    returned.append(b"Z")
            out = []
            if b"f" in flags:
                out.append(b"f%d" % item.flags)
            if b"c" in flags:
                out.append(b"c%d" % item.cas)
            if b"k" in flags:
                out.append(b"k" + key)
            if b"s" in flags:
                out.append(b"s%d" % len(item.data))
            if b"t" in flags:
                left = -1 if not item.expires else max(0, int(item.expires - store.now()))
                out.append(b"t%d" % left)
            head = b" ".join(out + returned)
            if b"v" in flags:
                return b"VA %d %s\r\n%s\r\n" % (len(item.data), head, item.data)
            return b"HD %s\r\n" % head

    def _other_command(self, command: bytes, parts: list[bytes]) -> bytes | None:
        store = self.store
        if command == b"delete":
            if len(parts) not in (2, 3):
                raise _ClientError("bad command line format")
            with store.lock:
                return b"DELETED\r\n" if store.delete(_check_key(parts[1])) else b"NOT_FOUND\r\n"
        if command in (b"incr", b"decr"):
            if len(parts) != 3:
                raise _ClientError("bad command line format")
            key, delta = _check_key(parts[1]), _int(parts[2])
            with store.lock:
                item = store.live(key)
                if item is None:
                    return b"NOT_FOUND\r\n"
                try:
                    current = int(item.data)
                except ValueError:
                    raise _ClientError("cannot increment or decrement non-numeric value") from None
                value = (current + delta) % 2**64 if command == b"incr" else max(current - delta, 0)
                item.data = str(value).encode()
                item.cas = store.next_cas
                store.next_cas += 1
                return item.data + b"\r\n"
        if command == b"touch":
            if len(parts) != 3:
                raise _ClientError("bad command line format")
            key, exptime = _check_key(parts[1]), _int(parts[2])
            with store.lock:
                item = store.live(key)
                if item is None:
                    return b"NOT_FOUND\r\n"
                item.expires = store.expiry(exptime)
                return b"TOUCHED\r\n"
        if command == b"flush_all":
            with store.lock:
                store.items.clear()
                store.bytes = 0
            return b"OK\r\n"
        if command == b"version":
            return b"VERSION 1.6.0-asynq-embedded\r\n"
        if command == b"verbosity":
            return b"OK\r\n"
        if command == b"stats":
            with store.lock:
                lines = [b"STAT %s %d\r\n" % (k.encode(), v) for k, v in store.stats.items()]
                lines.append(b"STAT curr_items %d\r\n" % len(store.items))
                lines.append(b"STAT bytes %d\r\n" % store.bytes)
            return b"".join(lines) + b"END\r\n"
        if command == b"quit":
            return None
        return b"ERROR\r\n"


class EmbeddedServer:
    """A memcached-compatible server on 127.0.0.1, one thread per connection."""

    def __init__(self, port: int = 0, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.store = _Store(max_bytes)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._answering = threading.Event()
        self._answering.set()
        self._stopping = False
        self._acceptor: threading.Thread | None = None

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedServer:
        """Accept connections on a daemon thread; returns ``self``."""
        if self._acceptor is None:
            self._acceptor = threading.Thread(
                target=self._accept_loop, name=f"embedded-memcached-{self.port}", daemon=True
            )
            self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection and join the threads."""
        self._stopping = True
        self._answering.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)

    def pause(self) -> None:
        """Keep accepting and reading, but answer nothing until ``resume()``."""
        self._answering.clear()

    def resume(self) -> None:
        """Answer again."""
        self._answering.set()

    def advance(self, seconds: float) -> None:
        """Move the store's clock forward (expiry tests without sleeping)."""
        with self.store.lock:
            self.store.offset += seconds

    def _wait_if_paused(self) -> None:
        self._answering.wait()

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)
        try:
            sock.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stopping:
                    sock.close()
                    return
                self._connections.add(sock)
            thread = threading.Thread(target=_Connection(self, sock).serve, daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

"""The memcached wire protocol: requests encoded, replies read before a deadline.

Reads are classic ``get k1 k2 ...`` (one ``VALUE`` block per hit, then ``END``) or, with leases,
meta gets (``mg <key> v f [c N<ttl>]`` per key, ended by ``mn``, answered by ``VA``/``EN`` per
key and ``MN``). Writes are classic ``set``/``delete`` (``noreply`` for write-backs nobody waits
for) and quiet meta writes (``ms ... C<cas> q``: a write-back stored only while its lease holds;
``md ... C<cas> q``: a lease given back), whose failures alone are answered, before ``MN``.

Nothing here knows about servers, threads or batches: the functions take a socket and a
deadline (``pool.py`` owns the connections), and raise ``ProtocolError`` for a reply the
protocol does not allow. ``FAULTS`` is what counts as the server's fault.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

from pymemcache.exceptions import MemcacheError

__all__ = [
    "FAULTS",
    "LOST",
    "PLAIN_MG",
    "STALE",
    "STATE_BITS",
    "WIN",
    "MetaResult",
    "ProtocolError",
    "WriteOp",
    "encode_gets",
    "encode_writes",
    "parse_meta",
    "parse_values",
    "read_lines",
    "read_meta",
    "read_reply",
    "read_values",
    "recv",
    "skip_quiet",
]

_R = TypeVar("_R")
_monotonic = time.monotonic

#: Lease state bits of a meta get: this caller won the lease and computes the value (W).
WIN = 1
#: Another caller holds the lease and computes the value (Z).
LOST = 2
#: The item is stale: a stale-while-revalidate ``dirty`` invalidated it (X).
STALE = 4

# One write: (op, key, data, flags, ttl, noreply, cas). op: "set", "delete", "invalidate"
# (md with I), "lease-set" (ms with C: stored only if the lease still holds), "release" (give
# a lease back); the last two are quiet.
WriteOp = tuple[str, str, bytes, int, int, bool, int]


def encode_gets(keys: list[str], meta: bool, raw: set[str], lease_flags: bytes) -> bytes:
    """One server's read request for ``keys``: a classic ``get``, or (``meta``) one meta get
    per key ended by ``mn``, asking for a lease (``lease_flags``) on a miss of every key not in
    ``raw``."""
    if not meta:
        return b"get " + " ".join(keys).encode("ascii") + b"\r\n"
    if not raw:  # the common case, in one join: "mg k1 <flags>mg k2 <flags>"
        join = lease_flags.decode("ascii") + "mg "
        return b"mg " + join.join(keys).encode("ascii") + lease_flags + b"mn\r\n"
    return (
        b"".join(
            [
                b"mg " + key.encode("ascii") + (PLAIN_MG if key in raw else lease_flags)
                for key in keys
            ]
        )
        + b"mn\r\n"
    )


def encode_writes(ops: list[WriteOp]) -> tuple[bytes, list[int], bool]:
    """One server's write request for ``ops``: the bytes, the indexes of the ops that wait for
    an answer (in answer order), and whether quiet meta writes (answered only on failure, then
    ``MN``) come first."""
    chunks: list[bytes] = []
    waiting: list[int] = []
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
    return b"".join(chunks), waiting, bool(quiet_ops)


class ProtocolError(Exception):
    """memcached answered something the get protocol does not allow."""


# What counts as the server's fault (a miss, a backoff); anything else is the caller's and
# propagates, after the connection it interrupted is closed.
FAULTS = (OSError, ProtocolError, MemcacheError)


def read_reply(
    sock: socket.socket, deadline: float, ends: bytes, parse: Callable[[bytes], _R | None]
) -> _R:
    """Read one reply before ``deadline``: chunks are gathered until the reply can end (its
    last line is ``ends``, or an error line), then ``parse`` reads it in one pass; if it was
    only the start of the reply (a value merely looked like the end), reading goes on."""
    chunks: list[bytes] = []
    size = len(ends)
    while True:
        chunk = recv(sock, deadline)
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


def read_values(sock: socket.socket, deadline: float) -> list[tuple[str, int, bytes]]:
    """Read one ``get`` reply (``VALUE`` blocks up to ``END``) before ``deadline``."""
    return read_reply(sock, deadline, b"END\r\n", parse_values)


def parse_values(data: bytes) -> list[tuple[str, int, bytes]] | None:
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


def read_lines(sock: socket.socket, count: int, deadline: float, quiet: int = 0) -> list[bytes]:
    """Read ``quiet`` runs of quiet write answers, then ``count`` one-line replies (to sets
    and deletes), before ``deadline``."""
    data = b""
    while True:
        data += recv(sock, deadline)
        if not data.endswith(b"\r\n"):
            continue
        start = skip_quiet(data, 0, quiet)
        if start is None:
            continue
        lines = data[start:].split(b"\r\n")
        if len(lines) < count + 1:
            continue
        if len(lines) != count + 1 or lines[-1]:
            raise ProtocolError(f"memcached sent more than {count} replies: {data[:80]!r}")
        return lines[:-1]


PLAIN_MG = b" v f\r\n"
# What a meta get request's replies come to: the hits (key, flags, data), the lease states,
# and the reply itself (parsed again, rarely, for the cas of a hit: see ``pool.SentGets.cas_of``).
MetaResult = tuple[list[tuple[str, int, bytes]], dict[str, tuple[int, int]], bytes]
STATE_BITS = {87: WIN, 90: LOST, 88: STALE}  # W, Z, X


def read_meta(sock: socket.socket, deadline: float, keys: list[str], quiet: int) -> MetaResult:
    """Read ``quiet`` runs of quiet write answers, then the meta get replies of ``keys`` and
    ``MN``, before ``deadline``."""
    return read_reply(sock, deadline, b"MN\r\n", lambda data: parse_meta(data, keys, quiet))


def skip_quiet(data: bytes, pos: int, quiet: int) -> int | None:
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


def parse_meta(
    data: bytes, keys: list[str], quiet: int, tokens: dict[str, bytes] | None = None
) -> MetaResult | None:
    """The replies to meta gets of ``keys``, or None if ``data`` is only the start of them:
    the hits as (key, flags, data), placeholders left out, {key: (state, cas)} for the keys
    with a lease state (stale items are hits too, and have a state), and ``data``. With
    ``tokens``, also put there the cas token (``b"c<cas>"``) of every hit that has one."""
    size_of_data = len(data)
    skipped = skip_quiet(data, 0, quiet)
    if skipped is None:
        return None
    pos = skipped
    out: list[tuple[str, int, bytes]] = []
    leases: dict[str, tuple[int, int]] = {}
    append = out.append
    find = data.find
    bits = STATE_BITS
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
                    if (
                        state
                    ):  # the cas of a plain hit is needed rarely: see ``pool.SentGets.cas_of``
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


def recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - _monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete reply within read_timeout")
    sock.settimeout(remaining)
    chunk = sock.recv(262144)
    if not chunk:
        raise ConnectionError("memcached closed the connection")
    return chunk

"""Run memcached for tests, demos and benchmarks: a real process or the embedded store.

``MemcachedServer`` starts the ``memcached`` binary on a free loopback port and stops it when
the ``with`` block ends; ``EmbeddedMemcached`` offers the same interface backed by the in-process
store of ``embedded.py``, for machines without the binary. Both listen on 127.0.0.1 only.

    with MemcachedServer() as server:
        mc = MemcacheClient(server.address)

``pause()`` / ``resume()`` make a server accept connections but answer nothing (SIGSTOP and
SIGCONT for the process), which is how fault tests simulate a server slower than the timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from types import TracebackType
from typing import Any

from .embedded import EmbeddedServer

__all__ = ["MemcachedServer", "EmbeddedMemcached", "memcached_available", "free_port"]

_HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def memcached_available(binary: str = "memcached") -> bool:
    """Whether the ``memcached`` binary can be found (on PATH, or at the given path)."""
    return shutil.which(binary) is not None


def _send_command(port: int, command: bytes, timeout: float = 2.0) -> bytes:
    with socket.create_connection((_HOST, port), timeout=timeout) as sock:
        sock.sendall(command)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def _wait_for_state(pid: int, stopped: bool, timeout: float = 2.0) -> None:
    """Wait until the kernel shows ``pid`` stopped (or running again): a signal is delivered
    asynchronously, and a test must not talk to a server that is still answering."""
    path = f"/proc/{pid}/stat"
    if not os.path.exists(path):  # not Linux: give the signal a moment
        time.sleep(0.05)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                state = f.read().rpartition(")")[2].split()[0]
        except OSError:
            return
        if (state in ("T", "t")) == stopped:
            return
        time.sleep(0.002)


class _ServerBase:
    host = _HOST
    port: int

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, what ``MemcacheClient`` accepts."""
        return f"{self.host}:{self.port}"

    def flush_all(self) -> None:
        """Forget every stored item."""
        reply = _send_command(self.port, b"flush_all\r\n")
        if reply != b"OK\r\n":
            raise RuntimeError(f"flush_all on {self.address} answered {reply!r}, expected OK")

    def start(self) -> Any:
        """Start serving; returns the server."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self,
        typ: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}>"


class MemcachedServer(_ServerBase):
    """A ``memcached`` process on 127.0.0.1 (UDP off), started by ``start()`` or ``with``."""

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: str = "memcached",
        memory_mb: int = 64,
        extra_args: tuple[str, ...] | list[str] = (),
    ) -> None:
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise ValueError(
                f"MemcachedServer(port=...) expects a TCP port number between 1 and 65535 or "
                f"None for a free one, got {port!r}"
            )
        self._requested_port = port
        self.port = port or 0
        self.binary = binary
        self.memory_mb = memory_mb
        self.extra_args = tuple(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    def start(self) -> MemcachedServer:
        """Start the process and wait until it accepts connections; returns ``self``."""
        if self.process is not None:
            return self
        path = shutil.which(self.binary)
        if path is None:
            raise FileNotFoundError(
                f"cannot start memcached: {self.binary!r} is not on PATH. Install it "
                "(Debian: `apt-get install memcached`) or use EmbeddedMemcached()"
            )
        last_error = ""
        for _ in range(5):  # a free port can be taken between choosing and binding it
            port = self._requested_port or free_port()
            args = [path, "-l", _HOST, "-p", str(port), "-U", "0", "-m", str(self.memory_mb)]
            if hasattr(os, "geteuid") and os.geteuid() == 0 and "-u" not in self.extra_args:
                args += ["-u", "root"]  # memcached refuses to run as root without -u
            args += list(self.extra_args)
            process = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
            )
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    assert process.stderr is not None
                    last_error = process.stderr.read().decode(errors="replace").strip()
                    break
                try:
                    with socket.create_connection((_HOST, port), timeout=0.5):
                        pass
                except OSError:
                    time.sleep(0.01)
                    continue
                self.process, self.port, self.paused = process, port, False
                return self
            else:
                process.kill()
                process.wait()
                last_error = "it did not accept connections within 10 s"
            if self._requested_port:
                break
        raise RuntimeError(f"memcached failed to start on {_HOST}: {last_error}")

    def stop(self) -> None:
        """Stop the process at once (SIGKILL: a cache has nothing to save). Safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        process.kill()
        process.wait()
        self.paused = False
        if process.stderr is not None:
            process.stderr.close()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections are accepted by the kernel, never answered."""
        if self.process is None:
            raise RuntimeError(f"{self!r} is not running; start() it before pause()")
        self.process.send_signal(signal.SIGSTOP)
        _wait_for_state(self.process.pid, stopped=True)
        self.paused = True

    def resume(self) -> None:
        """Undo ``pause()`` (SIGCONT)."""
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
            _wait_for_state(self.process.pid, stopped=False)
        self.paused = False

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None


class EmbeddedMemcached(_ServerBase):
    """The in-process store of ``embedded.py`` behind the ``MemcachedServer`` interface."""

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: str = "memcached",
        memory_mb: int = 64,
        extra_args: tuple[str, ...] | list[str] = (),
    ) -> None:
        del binary, extra_args  # accepted for interface compatibility
        self._requested_port = port
        self.port = port or 0
        self.memory_mb = memory_mb
        self.server: EmbeddedServer | None = None
        self.paused = False

    def start(self) -> EmbeddedMemcached:
        """Start serving on a background thread; returns ``self``."""
        if self.server is None:
            self.server = EmbeddedServer(
                port=self._requested_port or 0, max_bytes=self.memory_mb * 1024 * 1024
            )
            self.server.start()
            self.port = self.server.port
            self.paused = False
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        server, self.server = self.server, None
        if server is not None:
            server.stop()
        self.paused = False

    def pause(self) -> None:
        """Keep accepting connections but answer nothing until ``resume()``."""
        if self.server is None:
            raise RuntimeError(f"{self!r} is not running; start() it before pause()")
        self.server.pause()
        self.paused = True

    def resume(self) -> None:
        """Answer again, including what was asked while paused."""
        if self.server is not None:
            self.server.resume()
        self.paused = False

    @property
    def running(self) -> bool:
        """Whether the store is serving."""
        return self.server is not None

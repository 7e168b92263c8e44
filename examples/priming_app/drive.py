"""Run every page of the app cold and warm; print outputs, read round trips and DB queries.

    python drive.py [--memcached HOST:PORT]

Without --memcached, a memcached is started on a free port of 127.0.0.1 (and stopped at the
end). Reads are counted by a small proxy in front of memcached: one round trip is one `get`
or `gets` command, however many keys it asks for. Prints one JSON object:

    {"pages": {name: {"output", "round_trips_cold", "round_trips_warm", "db_queries_cold"}}}
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STORAGE = (b"set", b"add", b"replace", b"append", b"prepend", b"cas")


class CountingProxy:
    """Forwards TCP connections to memcached and counts the read commands it sees."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.reads = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket) -> None:
        buffer = b""
        skip = 0  # bytes of a storage command's data block still to pass through
        while True:
            data = client.recv(65536)
            if not data:
                server.close()
                return
            buffer += data
            while True:
                if skip:
                    taken = min(skip, len(buffer))
                    buffer, skip = buffer[taken:], skip - taken
                    if skip:
                        break
                end = buffer.find(b"\r\n")
                if end < 0:
                    break
                line, buffer = buffer[:end], buffer[end + 2 :]
                words = line.split()
                if words and words[0] in (b"get", b"gets"):
                    with self.lock:
                        self.reads += 1
                elif words and words[0] in STORAGE and len(words) >= 5:
                    skip = int(words[4]) + 2
            server.sendall(data)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                sink.close()
                return
            sink.sendall(data)

    def take(self) -> int:
        """The read round trips counted since the last call."""
        with self.lock:
            reads, self.reads = self.reads, 0
        return reads


def start_memcached() -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
    binary = shutil.which("memcached")
    if binary is None:
        sys.exit("drive.py: memcached is not installed; install it or pass --memcached HOST:PORT")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    proc = subprocess.Popen(args)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, ("127.0.0.1", port)
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("drive.py: memcached did not start")


def flush_all(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as conn:
        conn.sendall(b"flush_all\r\n")
        conn.recv(100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memcached", metavar="HOST:PORT", help="use this memcached")
    options = parser.parse_args()
    proc = None
    if options.memcached:
        host, port = options.memcached.rsplit(":", 1)
        upstream = (host, int(port))
    else:
        proc, upstream = start_memcached()
    try:
        proxy = CountingProxy(upstream)
        os.environ["PRIMING_APP_SERVERS"] = proxy.address
        sys.path.insert(0, HERE)
        import db
        import views
        from cache import mc

        pages = {
            "answers": lambda: views.answers_view([1, 2, 3, 4]),
            "top": lambda: views.top_view([1, 2, 3, 4]),
            "names": lambda: views.names_view([3, 5, 8, 13]),
        }
        out = {}
        for name, page in pages.items():
            flush_all(upstream)
            row = {}
            for phase in ("cold", "warm"):
                db.QUERIES["count"] = 0
                proxy.take()
                with mc.request():
                    output = page()
                row["output_" + phase] = output
                row["round_trips_" + phase] = proxy.take()
                row["db_queries_" + phase] = db.QUERIES["count"]
            if row["output_cold"] != row["output_warm"]:
                sys.exit(f"drive.py: page {name} gave different outputs cold and warm")
            out[name] = {
                "output": row["output_cold"],
                "round_trips_cold": row["round_trips_cold"],
                "round_trips_warm": row["round_trips_warm"],
                "db_queries_cold": row["db_queries_cold"],
            }
        print(json.dumps({"pages": out}, sort_keys=True))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()

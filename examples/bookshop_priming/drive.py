"""Run every bookshop page cold and warm against memcached and report the costs as JSON.

    python examples/bookshop_priming/drive.py [--memcached HOST:PORT]

Without ``--memcached`` it starts ``memcached -l 127.0.0.1 -p <free port>`` itself. The app talks
to memcached through a counting proxy on 127.0.0.1, so that the read round trips are counted on
the wire: per connection, each burst of client bytes sent after the previous server reply (or at
the start) that holds at least one retrieval command (get, gets, gat, gats, mg) is one round
trip. For each page, in a fixed order, memcached is flushed, the page runs once cold and once
warm (a fresh request each time), and one JSON object is printed on stdout:

    {"pages": {"<page>": {"output": ..., "round_trips_cold": N, "round_trips_warm": N,
                          "db_queries_cold": N}, ...}}
"""

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (page name, route, arguments), in the order they run.
PAGES = [
    ("book", "book", (18,)),
    ("author", "author", (3,)),
    ("shelves", "shelves", (5,)),
    ("review", "review", (6,)),
    ("profile", "profile", (4,)),
    ("feed", "feed", (6,)),
    ("recommendations", "recommendations", (9,)),
    ("orders", "orders", (11,)),
    ("genre", "genre", ("scifi",)),
    ("staff", "staff", (1,)),
    ("rate", "rate", (8, 7, 5, "Better on a second reading.")),
]

RETRIEVALS = {b"get", b"gets", b"gat", b"gats", b"mg"}
STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_address(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--memcached expects HOST:PORT, got {text!r}")
    return host, int(port)


def wait_for(address, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(address, timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers on {address[0]}:{address[1]}") from None
            time.sleep(0.05)


@contextlib.contextmanager
def memcached_server():
    binary = shutil.which("memcached")
    if binary is None:
        raise SystemExit(
            "memcached is not installed (Debian: apt-get install memcached); install it or pass "
            "--memcached HOST:PORT of a running server"
        )
    port = free_port()
    args = [binary, "-l", "127.0.0.1", "-p", str(port)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args += ["-u", "root"]  # memcached refuses to run as root without -u
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(("127.0.0.1", port))
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class CommandScanner:
    """Follows the client side of the text protocol (skipping the data blocks of storage
    commands) and says whether a chunk completed a retrieval command."""

    def __init__(self):
        self.buffer = b""
        self.skip = 0

    def feed(self, data):
        self.buffer += data
        found = False
        while True:
            if self.skip:
                taken = min(self.skip, len(self.buffer))
                self.buffer = self.buffer[taken:]
                self.skip -= taken
                if self.skip:
                    return found
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return found
            line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            tokens = line.split()
            if not tokens:
                continue
            command = tokens[0].lower()
            if command in RETRIEVALS:
                found = True
            elif command in STORAGE and len(tokens) >= 5 and tokens[4].isdigit():
                self.skip = int(tokens[4]) + 2
            elif command == b"ms" and len(tokens) >= 3 and tokens[2].isdigit():
                self.skip = int(tokens[2]) + 2


class CountingProxy:
    """A TCP proxy in front of memcached that counts read round trips (see the module doc)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.round_trips = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.address = self.listener.getsockname()
        self.sockets = []
        self.threads = []
        self.closed = False

    def start(self):
        self._spawn(self._accept)
        return self

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets += [client, server]
            state = {"counted": False, "scanner": CommandScanner()}
            self._spawn(self._client_to_server, client, server, state)
            self._spawn(self._server_to_client, server, client, state)

    def _client_to_server(self, client, server, state):
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self.lock:
                if state["scanner"].feed(data) and not state["counted"]:
                    state["counted"] = True
                    self.round_trips += 1
            try:
                server.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _server_to_client(self, server, client, state):
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self.lock:
                state["counted"] = False
            try:
                client.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)

    def count(self):
        with self.lock:
            return self.round_trips

    def close(self):
        self.closed = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        with contextlib.suppress(OSError):
            self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self.threads:
            thread.join(timeout=2)


def flush_all(address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"flush_all\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(1024)
            if not chunk:
                break
            reply += chunk
    if reply.strip() != b"OK":
        raise RuntimeError(f"flush_all answered {reply!r}")


def canonical(value):
    return json.loads(json.dumps(value, sort_keys=True))


def run_pages(memcached_address, proxy):
    os.environ["BOOKSHOP_MEMCACHE_SERVERS"] = "{}:{}".format(*proxy.address)
    sys.path.insert(0, HERE)
    import bookshop

    def sync():
        # The app's write-backs are sent without waiting for replies; a read on the same
        # connection returns only after memcached has applied them.
        bookshop.mc.get("drive:sync")

    results = {}
    try:
        for name, route, args in PAGES:
            flush_all(memcached_address)
            runs = []
            for _phase in ("cold", "warm"):
                trips_before = proxy.count()
                queries_before = bookshop.db.DB.queries
                output = canonical(bookshop.handle(route, *args))
                runs.append((output, proxy.count() - trips_before,
                             bookshop.db.DB.queries - queries_before))
                sync()
            (cold, cold_trips, cold_queries), (warm, warm_trips, _) = runs
            if cold != warm:
                raise RuntimeError(f"page {name}: the warm run returned something else than "
                                   "the cold run")
            results[name] = {
                "output": cold,
                "round_trips_cold": cold_trips,
                "round_trips_warm": warm_trips,
                "db_queries_cold": cold_queries,
            }
    finally:
        bookshop.mc.close()
    return {"pages": results}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memcached", metavar="HOST:PORT",
                        help="a running memcached (default: start one on a free port)")
    options = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if options.memcached:
            address = parse_address(options.memcached)
            try:
                wait_for(address, timeout=5)
            except RuntimeError as error:
                raise SystemExit(f"{error}; start memcached there, or leave out --memcached "
                                 "to have the driver start one") from None
        else:
            address = stack.enter_context(memcached_server())
        proxy = CountingProxy(address).start()
        stack.callback(proxy.close)
        report = run_pages(address, proxy)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run every page of the courses app cold and warm, and count memcached read round trips.

    python examples/courses_priming/drive.py [--memcached HOST:PORT]

Without --memcached it starts `memcached` on a free loopback port (and stops it at exit). The
app talks to memcached through a small counting TCP proxy run here: a *read round trip* is each
burst of bytes the app sends after memcached's previous reply (or at the start of a connection)
that holds at least one retrieval command (get, gets, gat, gats, mg). Prints one JSON object.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (page name, route, arguments), in the order they run. complete_lesson writes, and the pages
# after it see the write; audit shows what the pages before it recorded.
PAGES = [
    ("catalog", "catalog", {"category": "data", "viewer_id": 12}),
    ("course", "course", {"course_id": 103, "viewer_id": 14}),
    ("prerequisites", "prerequisites", {"course_id": 103, "user_id": 14}),
    ("lesson", "lesson", {"lesson_id": 5006, "user_id": 14}),
    ("complete_lesson", "complete_lesson", {"user_id": 14, "lesson_id": 5008}),
    ("my_learning", "my_learning", {"user_id": 14}),
    ("quiz_results", "quiz_results", {"quiz_id": 7004, "user_id": 14}),
    ("certificate", "certificate", {"serial": "CRS-101-0009"}),
    ("forum_thread", "forum_thread", {"thread_id": 9007, "viewer_id": 14}),
    ("reply", "reply", {"post_id": 24, "viewer_id": 12}),
    ("course_forum", "course_forum", {"course_id": 105}),
    ("company_usage", "company_usage", {"company_id": 2}),
    ("instructor_dashboard", "instructor_dashboard", {"instructor_id": 4}),
    ("audit", "audit", {"limit": 5}),
]

RETRIEVALS = {b"get", b"gets", b"gat", b"gats", b"mg"}
STORAGE_WITH_DATA = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}


class _ClientStream:
    """Parses the client's side of one connection: which bursts hold a retrieval command."""

    def __init__(self):
        self.pending = b""
        self.skip = 0  # bytes of a value (plus CRLF) still to pass over
        self.name_seen = False  # the current command's name was already looked at

    def has_retrieval(self, data):
        """Whether ``data`` starts a retrieval command (one split over two bursts counts in
        the burst that sent its name)."""
        found = False
        self.pending += data
        while self.pending:
            if self.skip:
                taken = min(self.skip, len(self.pending))
                self.pending = self.pending[taken:]
                self.skip -= taken
                continue
            if not self.name_seen:
                ends = [i for i in (self.pending.find(b" "), self.pending.find(b"\r")) if i >= 0]
                if not ends:
                    break
                found = found or self.pending[: min(ends)] in RETRIEVALS
                self.name_seen = True
            end = self.pending.find(b"\r\n")
            if end < 0:
                break
            line, self.pending = self.pending[:end], self.pending[end + 2:]
            self.name_seen = False
            words = line.split()
            if words and words[0] in STORAGE_WITH_DATA and len(words) >= 5:
                self.skip = int(words[4]) + 2
            elif words and words[0] == b"ms" and len(words) >= 3:
                self.skip = int(words[2]) + 2
        return found


class CountingProxy:
    def __init__(self, upstream):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.read_round_trips = 0
        self.sockets = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        with self.lock:
            count, self.read_round_trips = self.read_round_trips, 0
        return count

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets.extend([client, server])
            state = {"fresh": True, "counted": False, "stream": _ClientStream()}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client, server, state):
        while True:
            try:
                data = client.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                _close(server)
                return
            with self.lock:
                if state["fresh"]:
                    state["fresh"] = False
                    state["counted"] = False
                if state["stream"].has_retrieval(data) and not state["counted"]:
                    state["counted"] = True
                    self.read_round_trips += 1
            try:
                server.sendall(data)
            except OSError:
                return

    def _down(self, server, client, state):
        while True:
            try:
                data = server.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                _close(client)
                return
            with self.lock:
                state["fresh"] = True
            try:
                client.sendall(data)
            except OSError:
                return

    def close(self):
        self.closed = True
        _close(self.listener)
        for sock in self.sockets:
            _close(sock)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_memcached():
    port = _free_port()
    command = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0"]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"memcached did not start on port {port}") from None
            time.sleep(0.05)


def flush_all(address):
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"flush_all\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
    if reply != b"OK\r\n":
        raise RuntimeError(f"flush_all on {address} answered {reply!r}")


def run_pages(memcached):
    proxy = CountingProxy(memcached)
    try:
        os.environ["COURSES_MEMCACHED"] = proxy.address
        sys.path.insert(0, HERE)
        from courses import db, web

        pages = {}
        for name, route, params in PAGES:
            flush_all(memcached)
            proxy.reset()
            db.reset_query_count()
            output = web.handle(route, **params)
            cold_queries = db.query_count()
            cold_trips = proxy.reset()
            warm_output = web.handle(route, **params)
            warm_trips = proxy.reset()
            cold = json.dumps(output, sort_keys=True)
            if json.dumps(warm_output, sort_keys=True) != cold:
                raise RuntimeError(f"page {name}: the warm run returned other data than the cold")
            pages[name] = {
                "output": json.loads(cold),
                "round_trips_cold": cold_trips,
                "round_trips_warm": warm_trips,
                "db_queries_cold": cold_queries,
            }
        web.mc.close()
        return {"pages": pages}
    finally:
        proxy.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memcached", metavar="HOST:PORT", help="use this memcached")
    args = parser.parse_args(argv)
    # a SIGTERM unwinds like an error, so the memcached started here is stopped too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    process = None
    try:
        memcached = args.memcached
        if memcached is None:
            process, memcached = start_memcached()
        result = run_pages(memcached)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    sys.stdout.write(json.dumps(result, sort_keys=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render every page of the ticket app twice, cold and warm, and count memcached read round trips.

    python examples/tickets_priming/drive.py [--memcached HOST:PORT]

Without --memcached it starts its own `memcached` on a free loopback port. The app talks to
memcached through a small TCP proxy started here, which counts read round trips: per connection,
each burst of client bytes sent after the previous server reply (or at the start) that holds at
least one retrieval command (get, gets, gat, gats, mg). Prints one JSON object on stdout:

    {"pages": {"<page>": {"output": ..., "round_trips_cold": N, "round_trips_warm": N,
                          "db_queries_cold": N}, ...}}
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

# (page name, function in tickets.views, arguments), in the order they are run and printed
PAGES = [
    ("event", "event_page", (1,)),
    ("seat_map", "seat_map_page", (2,)),
    ("order", "order_page", (5003,)),
    ("my_orders", "my_orders_page", (6,)),
    ("seller_dashboard", "seller_dashboard_page", (9,)),
    ("listing_history", "listing_history_page", (1041,)),
    ("fraud_queue", "fraud_queue_page", ()),
    ("notifications", "notifications_page", (4,)),
    ("discussion", "discussion_page", (1,)),
    ("performer", "performer_page", (4,)),
    ("home", "home_page", (2,)),
    ("checkout", "checkout_page", (1016, 2, 5)),
    ("change_price", "change_price_page", (1012, 7250)),
]

RETRIEVALS = {b"get", b"gets", b"gat", b"gats", b"mg"}
STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}
TIMEOUT = 10.0


class DriverError(Exception):
    pass


def _parse_address(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise DriverError(
            "--memcached expects HOST:PORT, e.g. 127.0.0.1:11211, got %r" % (text,))
    return host, int(port)


def _connect(address, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(address, timeout=TIMEOUT)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _command(address, line, expect):
    """Send one command on a fresh connection and wait for a reply starting with `expect`."""
    sock = _connect(address)
    try:
        sock.sendall(line)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    finally:
        sock.close()
    if not reply.startswith(expect):
        raise DriverError("memcached answered %r to %r" % (reply, line))


class _Connection(object):
    """One client connection through the proxy, and its upstream connection."""

    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.replied = True  # the start counts as "after a reply"
        self.burst_counted = False
        self.pending = b""  # client bytes not yet parsed into commands
        self.skip = 0  # data bytes of a storage command still to come
        self.swallow = 0  # barrier replies to drop from the server's stream
        self.server_buffer = b""
        self.barrier_done = threading.Condition(self.lock)

    def start(self):
        for target in (self._client_to_server, self._server_to_client):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()

    def _has_retrieval(self, data):
        """Feed client bytes to the command parser; whether a retrieval command completed."""
        self.pending += data
        found = False
        while True:
            if self.skip:
                taken = min(self.skip, len(self.pending))
                self.pending = self.pending[taken:]
                self.skip -= taken
                if self.skip:
                    return found
            end = self.pending.find(b"\r\n")
            if end < 0:
                return found
            line, self.pending = self.pending[:end], self.pending[end + 2:]
            words = line.split()
            if not words:
                continue
            verb = words[0].lower()
            if verb in RETRIEVALS:
                found = True
            elif verb in STORAGE and len(words) >= 5 and words[4].isdigit():
                self.skip = int(words[4]) + 2
            elif verb == b"ms" and len(words) >= 3 and words[2].isdigit():
                self.skip = int(words[2]) + 2

    def _client_to_server(self):
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                with self.lock:
                    if self.replied:
                        self.replied = False
                        self.burst_counted = False
                    if self._has_retrieval(data) and not self.burst_counted:
                        self.burst_counted = True
                        self.proxy.count_read_trip()
                with self.send_lock:
                    self.upstream.sendall(data)
        except OSError:
            pass
        finally:
            self._close()

    def _server_to_client(self):
        try:
            while True:
                data = self.upstream.recv(65536)
                if not data:
                    break
                with self.lock:
                    if self.swallow:
                        data = self._drop_barrier_replies(data)
                    if data:
                        self.replied = True
                if data:
                    self.client.sendall(data)
        except OSError:
            pass
        finally:
            self._close()

    def _drop_barrier_replies(self, data):
        self.server_buffer += data
        out = b""
        while self.swallow:
            end = self.server_buffer.find(b"\r\n")
            if end < 0:
                return out
            line = self.server_buffer[: end + 2]
            self.server_buffer = self.server_buffer[end + 2:]
            if line.startswith(b"VERSION "):
                self.swallow -= 1
                self.barrier_done.notify_all()
            else:
                out += line
        out += self.server_buffer
        self.server_buffer = b""
        return out

    def barrier(self):
        """Wait until memcached has executed everything this client sent (noreply writes)."""
        with self.lock:
            self.swallow += 1
        with self.send_lock:
            self.upstream.sendall(b"version\r\n")
        deadline = time.monotonic() + TIMEOUT
        with self.lock:
            while self.swallow:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DriverError("memcached did not answer the proxy's barrier in time")
                self.barrier_done.wait(left)

    def _close(self):
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.proxy.forget(self)


class CountingProxy(object):
    """A TCP proxy on 127.0.0.1 in front of memcached that counts read round trips."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.read_trips = 0
        self.connections = []
        self.closed = False

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=TIMEOUT)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, client, upstream)
            with self.lock:
                self.connections.append(connection)
            connection.start()

    def count_read_trip(self):
        with self.lock:
            self.read_trips += 1

    def trips(self):
        with self.lock:
            return self.read_trips

    def forget(self, connection):
        with self.lock:
            if connection in self.connections:
                self.connections.remove(connection)

    def barrier(self):
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            connection.barrier()

    def close(self):
        self.closed = True
        self.listener.close()
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            connection._close()


def _free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _start_memcached():
    port = _free_port()
    command = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command += ["-u", "root"]  # memcached refuses to run as root otherwise
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise DriverError("no memcached binary on PATH; install memcached or pass "
                          "--memcached HOST:PORT") from None
    address = ("127.0.0.1", port)
    try:
        _connect(address).close()
    except OSError:
        process.kill()
        process.wait()
        raise DriverError("memcached did not start on 127.0.0.1:%d" % port) from None
    return process, address


def _canonical(value):
    return json.loads(json.dumps(value, sort_keys=True))


def run_pages(proxy, memcached_address):
    sys.path.insert(0, HERE)
    os.environ["TICKETS_MEMCACHE"] = proxy.address
    import tickets
    from tickets import db, views

    results = {}
    try:
        for name, function_name, args in PAGES:
            page = getattr(views, function_name)
            _command(memcached_address, b"flush_all\r\n", b"OK")
            runs = []
            for _ in ("cold", "warm"):
                db.reset_query_count()
                before = proxy.trips()
                with tickets.request():
                    output = _canonical(page(*args))
                proxy.barrier()
                runs.append((output, proxy.trips() - before, db.query_count()))
            (cold, cold_trips, cold_queries), (warm, warm_trips, _) = runs
            if cold != warm:
                raise DriverError("page %s rendered differently warm than cold:\n%s\n%s"
                                  % (name, json.dumps(cold, sort_keys=True),
                                     json.dumps(warm, sort_keys=True)))
            results[name] = {
                "output": cold,
                "round_trips_cold": cold_trips,
                "round_trips_warm": warm_trips,
                "db_queries_cold": cold_queries,
            }
    finally:
        tickets.mc.close()
    return {"pages": results}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memcached", metavar="HOST:PORT",
                        help="use this memcached instead of starting one")
    options = parser.parse_args(argv)
    # a SIGTERM unwinds like an error, so that memcached and the proxy are stopped
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    process = None
    proxy = None
    try:
        if options.memcached:
            memcached_address = _parse_address(options.memcached)
        else:
            process, memcached_address = _start_memcached()
        proxy = CountingProxy(memcached_address).start()
        result = run_pages(proxy, memcached_address)
    except DriverError as error:
        print("drive.py: %s" % error, file=sys.stderr)
        return 1
    finally:
        if proxy is not None:
            proxy.close()
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

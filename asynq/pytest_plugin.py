"""pytest plugin for asynq code: memcached servers, a client, and a round-trip recorder.

Registered by the ``pytest11`` entry point ``asynq = "asynq.pytest_plugin"``; without it, load it
with ``-p asynq.pytest_plugin`` or ``pytest_plugins = ["asynq.pytest_plugin"]`` in a conftest.

Fixtures
    ``memcached``          a memcached server on a free 127.0.0.1 port, started once per session
                           and emptied (``flush_all``) before each test that uses it.
    ``memcached_factory``  ``memcached_factory(n=1)`` starts ``n`` more servers for this test (a
                           list); they are stopped when the test ends.
    ``mc_client``          an ``asynq.memcache.MemcacheClient`` on ``memcached``.
    ``round_trips``        ``round_trips(client=None, *, at_most=, exactly=, keys=)``: the
                           ``asynq.testing.round_trips`` recorder, on ``mc_client`` by default.
    ``retarget_client``    ``retarget_client(client)`` points an existing client (the
                           application's module-level one) at ``memcached`` until the test ends.
    ``asynq_mocker``       pytest-mock's ``mocker``, made of ``asynq.mock``: ``patch``,
                           ``patch.object``, ``patch.dict``, ``patch.multiple`` return started
                           mocks that answer ``.asynq(...)``; all are stopped after the test.

Servers are the ``memcached`` binary when it is on PATH, else the in-process
``EmbeddedMemcached`` (the report header and the summary say which). Options:
``--asynq-memcached=auto|binary|embedded`` and ``--asynq-memcached-binary=PATH``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .testing import RoundTrips
from .testing import round_trips as _round_trips

if TYPE_CHECKING:
    from .memcache import EmbeddedMemcached, MemcacheClient, MemcachedServer

    Server = MemcachedServer | EmbeddedMemcached

__all__ = [
    "memcached",
    "memcached_session",
    "memcached_factory",
    "mc_client",
    "retarget_client",
    "round_trips",
    "asynq_mocker",
    "AsynqMocker",
]

_MODES = ("auto", "binary", "embedded")
_FELL_BACK = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of the memcached fixtures."""
    group = parser.getgroup("asynq", "asynq memcached fixtures")
    group.addoption(
        "--asynq-memcached",
        choices=_MODES,
        default="auto",
        help="what the memcached fixtures start: the memcached binary, the in-process "
        "EmbeddedMemcached, or auto (the binary when it is found, default)",
    )
    group.addoption(
        "--asynq-memcached-binary",
        default="memcached",
        metavar="PATH",
        help="the memcached executable for the memcached fixtures (default: memcached on PATH)",
    )


def _choice(config: pytest.Config) -> tuple[str, str]:
    """('binary', path) or ('embedded', why), from the options and what is installed."""
    mode = config.getoption("asynq_memcached")
    binary = config.getoption("asynq_memcached_binary")
    if mode == "embedded":
        return "embedded", "--asynq-memcached=embedded"
    path = shutil.which(binary)
    if path is not None:
        return "binary", path
    if mode == "binary":
        raise pytest.UsageError(
            f"--asynq-memcached=binary, but the memcached binary {binary!r} was not found; "
            "install memcached (Debian: apt-get install memcached), pass "
            "--asynq-memcached-binary=PATH, or use --asynq-memcached=auto to fall back to "
            "the in-process EmbeddedMemcached"
        )
    return "embedded", f"the memcached binary {binary!r} was not found"


def pytest_report_header(config: pytest.Config) -> str:
    """Say which memcached the fixtures use."""
    try:
        kind, detail = _choice(config)
    except pytest.UsageError as error:
        return f"asynq memcached fixtures: {error}"
    if kind == "binary":
        return f"asynq memcached fixtures: memcached binary {detail}"
    return f"asynq memcached fixtures: in-process EmbeddedMemcached ({detail})"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Repeat the fallback at the end, where it is seen, when a fixture actually used it."""
    if config.stash.get(_FELL_BACK, False):
        _kind, why = _choice(config)
        terminalreporter.write_line(
            f"asynq: the memcached fixtures used the in-process EmbeddedMemcached because {why}; "
            "install memcached to test against the real server"
        )


def _new_server(config: pytest.Config) -> Server:
    from .memcache import EmbeddedMemcached, MemcachedServer

    kind, detail = _choice(config)
    if kind == "binary":
        return MemcachedServer(binary=detail).start()
    if detail != "--asynq-memcached=embedded":
        config.stash[_FELL_BACK] = True
    return EmbeddedMemcached().start()


@pytest.fixture(scope="session")
def memcached_session(pytestconfig: pytest.Config) -> Iterator[Server]:
    """The session's memcached server, not emptied between tests (``memcached`` is)."""
    server = _new_server(pytestconfig)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def memcached(memcached_session: Server) -> Server:
    """A memcached server on 127.0.0.1, empty at the start of the test."""
    server = memcached_session
    if server.paused:
        server.resume()
    if not server.running:
        server.start()
    server.flush_all()
    return server


@pytest.fixture
def memcached_factory(pytestconfig: pytest.Config) -> Iterator[Callable[[int], list[Server]]]:
    """``memcached_factory(n=1)``: start ``n`` more servers, stopped when the test ends."""
    started: list[Server] = []

    def start(n: int = 1) -> list[Server]:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TypeError(
                f"memcached_factory(n) expects how many servers to start (1 or more), got "
                f"{type(n).__name__}: {n!r}"
            )
        servers = []
        for _ in range(n):
            server = _new_server(pytestconfig)
            started.append(server)
            servers.append(server)
        return servers

    try:
        yield start
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def mc_client(memcached: Server) -> Iterator[MemcacheClient]:
    """An ``asynq.memcache.MemcacheClient`` on the ``memcached`` server."""
    from .memcache import MemcacheClient

    client = MemcacheClient(memcached.address)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def retarget_client(memcached: Server) -> Iterator[Callable[[MemcacheClient], MemcacheClient]]:
    """``retarget_client(models.mc)``: the application's own client reads and writes the test's
    ``memcached`` (emptied for the test) until the test ends, then goes back to its servers.
    Returns the client, e.g. to pass to ``round_trips``."""
    from .memcache import MemcacheClient

    handles: list[Any] = []

    def retarget(client: MemcacheClient) -> MemcacheClient:
        if not isinstance(client, MemcacheClient):
            raise TypeError(
                f"retarget_client(client) expects the application's MemcacheClient (the object "
                f"your @mc.cached functions use, e.g. myapp.models.mc), got "
                f"{type(client).__name__}: {client!r}"
            )
        handles.append(client.retarget(memcached.address))
        return client

    try:
        yield retarget
    finally:
        for handle in reversed(handles):
            handle.restore()


@pytest.fixture
def round_trips(request: pytest.FixtureRequest) -> Iterator[Callable[..., RoundTrips]]:
    """``with round_trips(at_most=2) as rt:`` records the multi-gets of ``mc_client`` (or of the
    client passed first) inside the block; see ``asynq.testing.round_trips``. A recorder that is
    never used as a ``with`` block fails the test: it would have checked nothing."""
    made: list[RoundTrips] = []

    def record(
        client: Any = None,
        *,
        at_most: int | None = None,
        exactly: int | None = None,
        keys: Any = None,
    ) -> RoundTrips:
        if client is None:
            client = request.getfixturevalue("mc_client")
        recorder = _round_trips(client, at_most=at_most, exactly=exactly, keys=keys)
        made.append(recorder)
        return recorder

    yield record
    unused = [message for message in (r.never_entered() for r in made) if message]
    if unused:
        pytest.fail("\n".join(unused), pytrace=False)


class _MockerPatch:
    """``asynq_mocker.patch``: ``asynq.mock.patch`` whose patches start at once and stop after
    the test."""

    def __init__(self, started: list[Any]) -> None:
        self._started = started

    def _start(self, patcher: Any) -> Any:
        mocked = patcher.start()
        self._started.append(patcher)
        return mocked

    def __call__(self, target: str, *args: Any, **kwargs: Any) -> Any:
        """``patch(target, new=DEFAULT, ...)``, started: returns the mock."""
        from . import mock

        return self._start(mock.patch(target, *args, **kwargs))

    def object(self, target: Any, attribute: str, *args: Any, **kwargs: Any) -> Any:
        """``patch.object(target, attribute, ...)``, started: returns the mock."""
        from . import mock

        return self._start(mock.patch.object(target, attribute, *args, **kwargs))

    def dict(self, in_dict: Any, values: Any = (), clear: bool = False, **kwargs: Any) -> Any:
        """``patch.dict(in_dict, values, clear=False, **kwargs)``, started."""
        from . import mock

        return self._start(mock.patch.dict(in_dict, values, clear, **kwargs))

    def multiple(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        """``patch.multiple(target, name=DEFAULT, ...)``, started: returns the dict of mocks."""
        from . import mock

        return self._start(mock.patch.multiple(target, *args, **kwargs))


class AsynqMocker:
    """The ``asynq_mocker`` fixture: ``mocker``'s interface on ``asynq.mock``.

    ``asynq_mocker.patch("app.models.name_of", return_value="Ann")`` returns a started mock that
    answers both ``name_of(1)`` and ``yield name_of.asynq(1)``. The other names of
    ``asynq.mock`` (``MagicMock``, ``call``, ``ANY``, ``sentinel``...) are attributes too.
    """

    def __init__(self) -> None:
        self._started: list[Any] = []
        self.patch = _MockerPatch(self._started)

    def stopall(self) -> None:
        """Stop every patch this fixture started, latest first."""
        while self._started:
            self._started.pop().stop()

    def __getattr__(self, name: str) -> Any:
        from . import mock

        try:
            return getattr(mock, name)
        except AttributeError:
            raise AttributeError(
                f"asynq_mocker has no attribute {name!r}; it offers patch, patch.object, "
                "patch.dict, patch.multiple, stopall and the names of asynq.mock"
            ) from None


@pytest.fixture
def asynq_mocker() -> Iterator[AsynqMocker]:
    """pytest-mock's ``mocker`` for asynq code: patches whose mocks answer ``.asynq(...)``,
    stopped when the test ends."""
    mocker = AsynqMocker()
    try:
        yield mocker
    finally:
        mocker.stopall()

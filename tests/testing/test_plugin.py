"""The pytest plugin, run in throwaway test projects with pytester, against real memcached.

Autoloading of installed plugins is off in those projects, so the plugin is loaded exactly once,
the way each test says (``-p`` or ``pytest_plugins``), whether or not its entry point exists.
"""

from __future__ import annotations

import shutil
import socket

import pytest

PLUGIN = ("-p", "asynq.pytest_plugin")
MEMCACHED = shutil.which("memcached")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester


def test_the_memcached_binary_is_installed_where_these_tests_run() -> None:
    assert MEMCACHED is not None, "install memcached (Debian: apt-get install memcached)"


def test_memcached_is_one_real_server_on_loopback_emptied_before_each_test(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        import socket

        PORTS = []

        def command(server, line):
            with socket.create_connection((server.host, server.port), timeout=2) as sock:
                sock.sendall(line)
                return sock.recv(4096)

        def test_store(memcached):
            PORTS.append(memcached.port)
            assert type(memcached).__name__ == "MemcachedServer"
            assert memcached.host == "127.0.0.1"
            assert memcached.address == f"127.0.0.1:{memcached.port}"
            assert command(memcached, b"set k 0 0 1\\r\\nv\\r\\n") == b"STORED\\r\\n"
            assert command(memcached, b"get k\\r\\n") == b"VALUE k 0 1\\r\\nv\\r\\nEND\\r\\n"

        def test_emptied(memcached, tmp_path_factory):
            PORTS.append(memcached.port)
            assert command(memcached, b"get k\\r\\n") == b"END\\r\\n"
            assert PORTS[0] == PORTS[1]
            (tmp_path_factory.getbasetemp() / "port").write_text(str(memcached.port))
        """
    )
    result = project.runpytest(*PLUGIN, "--basetemp", str(project.path / "base"))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"asynq memcached fixtures: memcached binary {MEMCACHED}"])
    port = int((project.path / "base" / "port").read_text())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_memcached_recovers_a_server_a_previous_test_paused_or_stopped(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        def test_pause(memcached):
            memcached.pause()

        def test_after_pause(mc_client):
            assert mc_client.set("k", 1)
            assert mc_client.get("k") == 1

        def test_stop(memcached):
            memcached.stop()

        def test_after_stop(memcached, mc_client):
            assert memcached.running
            assert mc_client.get("k") is None
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=4)


def test_memcached_factory_starts_more_servers_and_stops_them_after_the_test(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        import pytest

        STARTED = []

        def test_three(memcached_factory, memcached):
            servers = memcached_factory(3)
            STARTED.extend(servers)
            assert len({server.port for server in servers} | {memcached.port}) == 4
            assert [server.running for server in servers] == [True, True, True]
            [one] = memcached_factory()
            STARTED.append(one)

        def test_stopped_afterwards():
            assert [server.running for server in STARTED] == [False] * 4

        def test_a_count_below_one_is_refused(memcached_factory):
            with pytest.raises(TypeError) as caught:
                memcached_factory(0)
            assert str(caught.value) == (
                "memcached_factory(n) expects how many servers to start (1 or more), "
                "got int: 0"
            )
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=3)


def test_mc_client_batches_reads_and_round_trips_counts_them(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        from asynq import asynq
        from asynq.memcache import MemcacheClient

        @asynq()
        def two_levels(mc):
            a, b = yield mc.get.asynq("a"), mc.get.asynq("b")
            c = yield mc.get.asynq("c")
            return a, b, c

        def test_rounds(mc_client, round_trips):
            assert type(mc_client) is MemcacheClient
            mc_client.set("a", 1)
            mc_client.set("b", 2)
            with round_trips(exactly=2, keys=[["b", "a"], ["c"]]) as rt:
                assert two_levels(mc_client) == (1, 2, None)
            assert rt.keys == [["a", "b"], ["c"]]
            assert [record.hits for record in rt.rounds] == [2, 0]

        def test_an_explicit_client(memcached_factory, round_trips):
            [server] = memcached_factory()
            other = MemcacheClient(server.address, key_prefix="app:")
            with round_trips(other, at_most=1) as rt:
                other.get("x")
            other.close()
            assert rt.keys == [["app:x"]]
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_a_round_trips_failure_prints_every_round_and_its_keys(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_too_many(mc_client, round_trips):
            mc_client.set("user:1", "Ann")
            with round_trips(at_most=1):
                mc_client.get("user:1")
                mc_client.get("post:7")
        """
    )
    result = project.runpytest(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: expected at most 1 memcached round trip, got 2:",
            "E *  round 1: 1 key, 1 hit: 'user:1'",
            "E *  round 2: 1 key, 0 hits: 'post:7'",
            "E *Reads made one after the other each need a round; reads yielded together *",
        ]
    )


def test_embedded_mode_uses_the_in_process_server_and_says_so_in_the_header(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        def test_kind(memcached, mc_client):
            assert type(memcached).__name__ == "EmbeddedMemcached"
            assert memcached.host == "127.0.0.1"
            assert mc_client.set("k", 1)
            assert mc_client.get("k") == 1
        """
    )
    result = project.runpytest(*PLUGIN, "--asynq-memcached=embedded")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["asynq memcached fixtures: in-process EmbeddedMemcached (--asynq-memcached=embedded)"]
    )
    result.stdout.no_fnmatch_line("asynq: the memcached fixtures used*")


def test_a_missing_binary_falls_back_to_the_embedded_server_and_says_so_twice(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        def test_kind(memcached):
            assert type(memcached).__name__ == "EmbeddedMemcached"
        """
    )
    result = project.runpytest(*PLUGIN, "--asynq-memcached-binary=no-such-memcached")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "asynq memcached fixtures: in-process EmbeddedMemcached (the memcached binary "
            "'no-such-memcached' was not found)",
            "*",
            "asynq: the memcached fixtures used the in-process EmbeddedMemcached because the "
            "memcached binary 'no-such-memcached' was not found; install memcached to test "
            "against the real server",
        ]
    )


def test_the_fallback_summary_appears_only_when_a_test_used_memcached(
    project: pytest.Pytester,
) -> None:
    project.makepyfile("def test_plain():\n    pass\n")
    result = project.runpytest(*PLUGIN, "--asynq-memcached-binary=no-such-memcached")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("asynq: the memcached fixtures used*")


def test_binary_mode_without_the_binary_is_an_error_that_says_what_to_do(
    project: pytest.Pytester,
) -> None:
    project.makepyfile("def test_needs(memcached):\n    pass\n")
    result = project.runpytest(
        *PLUGIN, "--asynq-memcached=binary", "--asynq-memcached-binary=no-such-memcached"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E *UsageError: --asynq-memcached=binary, but the memcached binary "
            "'no-such-memcached' was not found; install memcached (Debian: apt-get install "
            "memcached), pass --asynq-memcached-binary=PATH, or use --asynq-memcached=auto to "
            "fall back to the in-process EmbeddedMemcached"
        ]
    )


def test_the_plugin_loads_from_a_conftest_and_lists_its_fixtures(
    project: pytest.Pytester,
) -> None:
    project.makeconftest("pytest_plugins = ['asynq.pytest_plugin']")
    project.makepyfile("def test_uses(mc_client):\n    assert mc_client.get('k') is None\n")
    project.runpytest().assert_outcomes(passed=1)
    listing = project.runpytest("--fixtures")
    listing.stdout.fnmatch_lines_random(
        [
            "memcached_session* -- *pytest_plugin.py*",
            "memcached -- *pytest_plugin.py*",
            "memcached_factory -- *pytest_plugin.py*",
            "mc_client -- *pytest_plugin.py*",
            "round_trips -- *pytest_plugin.py*",
        ]
    )


def test_patch_decorated_test_functions_get_their_mocks_next_to_fixtures(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        import os

        from asynq import asynq, mock_ as mock

        @mock.patch("os.getcwd", return_value="/patched")
        def test_plain(getcwd, tmp_path):
            assert os.getcwd() == "/patched"
            assert tmp_path.exists()

        @mock.patch.multiple("os", getpid=mock.DEFAULT)
        @mock.patch("os.getcwd", return_value="/patched")
        def test_multiple(getcwd, tmp_path, **created):
            created["getpid"].return_value = 7
            assert (os.getcwd(), os.getpid()) == ("/patched", 7)

        @mock.patch("os.getcwd", return_value="/patched")
        @asynq()
        def test_asynq(getcwd, tmp_path):
            yield None
            assert os.getcwd() == "/patched"
            getcwd.assert_called_once_with()
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=3)


def test_a_round_trips_recorder_never_used_as_with_fails_the_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_forgot_the_with(mc_client, round_trips):
            round_trips(exactly=2)
            mc_client.get("a")

        def test_with(mc_client, round_trips):
            with round_trips(exactly=1):
                mc_client.get("a")
        """
    )
    result = project.runpytest(*PLUGIN)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*round_trips(exactly=2) was created but never used as a `with` block, so it "
            "checked nothing; write `with round_trips(exactly=2):` around the code under test"
        ]
    )


def test_retarget_client_points_the_apps_module_level_client_at_the_test_server(
    project: pytest.Pytester,
) -> None:
    # Laid out like the README: a module-level client, captured by @mc.cached at import.
    project.makepyfile(
        models="""
        from asynq import asynq
        from asynq.memcache import MemcacheClient

        mc = MemcacheClient("127.0.0.1:9", key_prefix="app:")  # production's; not reachable here
        USERS = {1: "Ada", 2: "Alan"}
        AUTHORS = {10: 1, 11: 2}

        @mc.cached("name")
        def user_name(uid):
            return USERS[uid]

        @mc.cached("author")
        def author_of(aid):
            return AUTHORS[aid]

        @asynq()
        def byline(aid):
            return (yield user_name.asynq((yield author_of.asynq(aid))))

        @asynq()
        def page(aids):
            return (yield [byline.asynq(aid) for aid in aids])
        """,
        test_models="""
        import models

        def test_a_warm_page_costs_two_round_trips(retarget_client, round_trips, memcached):
            mc = retarget_client(models.mc)
            assert models.page([10, 11]) == ["Ada", "Alan"]
            with round_trips(mc, exactly=2, keys=[["app:author:10", "app:author:11"],
                                                 ["app:name:1", "app:name:2"]]):
                assert models.page([10, 11]) == ["Ada", "Alan"]
            assert mc.servers == [memcached.address]

        def test_the_client_goes_back_after_the_test():
            assert models.mc.servers == ["127.0.0.1:9"]
        """,
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_retarget_client_refuses_what_is_not_a_client(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        def test_refused(retarget_client):
            with pytest.raises(TypeError) as error:
                retarget_client("127.0.0.1:11211")
            assert str(error.value) == (
                "retarget_client(client) expects the application's MemcacheClient (the object "
                "your @mc.cached functions use, e.g. myapp.models.mc), got str: '127.0.0.1:11211'"
            )
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_asynq_mocker_patches_like_mocker_and_its_mocks_answer_asynq(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        names="""
        from asynq import asynq

        SETTINGS = {"greeting": "hello"}

        @asynq()
        def name_of(uid):
            return f"user {uid}"

        @asynq()
        def greeting(uid):
            return f"{SETTINGS['greeting']} {(yield name_of.asynq(uid))}"

        class Users:
            @asynq()
            def count(self):
                return 0
        """,
        test_names="""
        import names

        def test_patches(asynq_mocker):
            name_of = asynq_mocker.patch("names.name_of", return_value="Ann")
            asynq_mocker.patch.dict(names.SETTINGS, greeting="hi")
            count = asynq_mocker.patch.object(names.Users, "count", autospec=True)
            count.return_value = 3
            assert names.greeting(1) == "hi Ann"
            assert names.Users().count.asynq().value() == 3
            name_of.assert_called_once_with(1)
            assert asynq_mocker.call(1) == name_of.call_args
            assert isinstance(asynq_mocker.MagicMock(), asynq_mocker.MagicMock)

        def test_stopped_after_the_test():
            assert names.greeting(1) == "hello user 1"
        """,
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=2)

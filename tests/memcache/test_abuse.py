"""Misuse gets an error that says what was received, what was expected and the likely fix."""

from __future__ import annotations

import re
from typing import Any

import pytest

from asynq import asynq, priming
from asynq.memcache import KeyEncodingError, MemcacheClient, MemcachedServer


def raises(error: type[BaseException], *fragments: str) -> Any:
    """pytest.raises that checks several fragments of the message, in order."""
    return pytest.raises(error, match=".*".join(re.escape(f) for f in fragments))


@pytest.fixture
def offline() -> MemcacheClient:
    """A client that is never asked to talk to its server."""
    return MemcacheClient("127.0.0.1:1")


def test_servers_of_the_wrong_type() -> None:
    with raises(
        TypeError,
        'expects "host:port", a list of them (a cluster) or a pymemcache client, got int: 11211',
        'MemcacheClient("127.0.0.1:11211")',
    ):
        MemcacheClient(11211)


def test_an_address_without_a_port() -> None:
    with raises(ValueError, "'localhost' is not a memcached address", '"host:port"', "11211"):
        MemcacheClient("localhost")


def test_an_empty_cluster() -> None:
    with raises(ValueError, "empty list of servers", "at least one"):
        MemcacheClient([])


def test_a_server_listed_twice() -> None:
    with raises(
        ValueError, "got the server 127.0.0.1:1 twice", "list each server of a cluster once"
    ):
        MemcacheClient(["127.0.0.1:1", "127.0.0.1:1"])


@pytest.mark.parametrize("ttl", [-1, 2592001, 1.5, True, "60"])
def test_a_ttl_that_memcached_would_misread(ttl: Any) -> None:
    with raises(ValueError, "default_ttl must be a whole number of seconds from 0", f"got {ttl!r}"):
        MemcacheClient("127.0.0.1:1", default_ttl=ttl)


@pytest.mark.parametrize("timeout", [0, -1, "1"])
def test_a_timeout_that_would_not_bound_anything(timeout: Any) -> None:
    with raises(
        ValueError, "read_timeout must be a positive number of seconds", f"got {timeout!r}"
    ):
        MemcacheClient("127.0.0.1:1", read_timeout=timeout)


def test_a_serializer_without_the_serde_methods() -> None:
    with raises(
        TypeError,
        "serializer must have serialize(key, value)",
        "got str: 'json'",
        "JsonSerializer()",
    ):
        MemcacheClient("127.0.0.1:1", serializer="json")  # type: ignore[arg-type]


def test_a_key_prefix_with_a_space() -> None:
    with raises(
        ValueError,
        "key_prefix must be at most 100 printable ASCII characters without spaces",
        "'my app:'",
    ):
        MemcacheClient("127.0.0.1:1", key_prefix="my app:")


def test_cached_without_a_namespace(offline: MemcacheClient) -> None:
    with raises(TypeError, "mc.cached was applied directly to f", '@mc.cached("f")'):

        @offline.cached  # type: ignore[arg-type]
        def f(x: int) -> int:
            return x


def test_a_namespace_that_is_not_a_string(offline: MemcacheClient) -> None:
    with raises(TypeError, "a cache namespace must be a str", "got int: 5"):
        offline.cached(5)  # type: ignore[arg-type]


def test_a_namespace_with_characters_that_would_blur_keys(offline: MemcacheClient) -> None:
    with raises(ValueError, "cache namespace 'users name' is not usable", "letters, digits"):
        offline.cached("users name")


def test_a_ttl_on_a_cached_function(offline: MemcacheClient) -> None:
    with raises(ValueError, "ttl must be a whole number of seconds", "got -5"):
        offline.cached("ns", ttl=-5)


def test_caching_a_generator_that_is_not_an_asynq_function(offline: MemcacheClient) -> None:
    with raises(
        TypeError,
        "got the generator function",
        "decorate it with @asynq() first, below @mc.cached(...)",
    ):

        @offline.cached("gen")
        def gen(x: int) -> Any:
            yield x


def test_caching_an_async_def(offline: MemcacheClient) -> None:
    with raises(TypeError, "cannot cache `async def", "plain function or an @asynq() generator"):

        @offline.cached("coro")
        async def coro(x: int) -> int:
            return x


def test_caching_twice(offline: MemcacheClient) -> None:
    @offline.cached("once")
    def once(x: int) -> int:
        return x

    with raises(TypeError, "once is already cached under 'once'", "apply @mc.cached(...) once"):
        offline.cached("twice")(once)


def test_an_argument_that_cannot_be_a_key(offline: MemcacheClient) -> None:
    @offline.cached("objects")
    def describe(thing: Any) -> str:
        return str(thing)

    with raises(
        KeyEncodingError,
        "cannot build a memcached key from a set ({1})",
        "Pass an id instead of the object",
    ):
        describe.key({1})


def test_arguments_that_do_not_fit_the_signature(offline: MemcacheClient) -> None:
    @offline.cached("two")
    def two(a: int, b: int) -> int:
        return a + b

    with raises(
        TypeError,
        "two(a, b) was called with arguments that do not fit",
        "missing a required argument: 'b'",
    ):
        two.key(1)


def test_a_cached_method(offline: MemcacheClient) -> None:
    class Model:
        @offline.cached("method")
        def method(self, x: int) -> int:
            return x

    with raises(TypeError, "on the method", "Cache a module-level function of ids instead"):
        Model().method(1)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("a b", "it contains ' ' at index 1"),
        ("", "it is empty"),
        ("x" * 251, "it is 251 characters long"),
    ],
)
def test_an_invalid_raw_key(offline: MemcacheClient, key: str, problem: str) -> None:
    with raises(ValueError, "is not a valid memcached key", problem, "asynq.memcache.make_key"):
        offline.get(key)


def test_a_raw_key_that_is_not_a_string(offline: MemcacheClient) -> None:
    with raises(TypeError, "a memcached key must be a str, got int: 5", "make_key"):
        offline.get(5)  # type: ignore[arg-type]


def test_get_many_with_a_single_key(offline: MemcacheClient) -> None:
    with raises(
        TypeError, "get_many expects a list of keys, got the single key 'abc'", "get_many(['abc'])"
    ):
        offline.get_many("abc")


def test_set_many_with_a_list(offline: MemcacheClient) -> None:
    with raises(
        TypeError,
        "set_many expects a mapping of keys to values, got list",
        "set_many({key: value})",
    ):
        offline.set_many([("a", 1)])  # type: ignore[arg-type]


def test_a_value_json_cannot_hold(offline: MemcacheClient) -> None:
    with raises(
        TypeError,
        "JsonSerializer cannot store the value: a set is not JSON",
        "PickleSerializer() (unsafe",
    ):
        offline.set("k", {1, 2})


def test_a_dict_with_keys_json_would_change(offline: MemcacheClient) -> None:
    with raises(
        TypeError, "the value['a']: it has the dict key 1 (int)", "Convert the keys with str()"
    ):
        offline.set("k", {"a": {1: "x"}})


def test_a_cached_function_returning_a_value_json_cannot_hold(offline: MemcacheClient) -> None:
    @offline.cached("sets")
    def as_set(x: int) -> set[int]:
        return {x}

    @asynq()
    def caller() -> Any:
        return (yield as_set.asynq(1))

    with raises(TypeError, "a set is not JSON"):
        caller()


def test_priming_generator_on_a_plain_function() -> None:
    with raises(
        TypeError, "@priming.generator expects a generator function", "without the decorator"
    ):

        @priming.generator
        def prime_plain(x: int) -> None:
            return None


def test_a_priming_generator_that_yields_a_value() -> None:
    @priming.generator
    def prime_bad(x: int) -> Any:
        yield x

    prime_bad(1)
    with raises(TypeError, "the priming generator", "yielded 1", "a bare `yield`"):
        priming.drive()


def test_reusing_a_request_block(offline: MemcacheClient) -> None:
    block = offline.request()
    with block:
        pass
    with raises(RuntimeError, "already in use", "write `with mc.request():` each time"), block:
        pass


def test_a_server_port_that_is_not_a_port() -> None:
    with raises(ValueError, "expects a TCP port number between 1 and 65535", "got 'x'"):
        MemcachedServer(port="x")  # type: ignore[arg-type]


def test_a_memcached_binary_that_is_not_installed() -> None:
    with raises(FileNotFoundError, "'no-such-memcached' is not on PATH", "EmbeddedMemcached()"):
        MemcachedServer(binary="no-such-memcached").start()


def test_pausing_a_server_that_is_not_running() -> None:
    with raises(RuntimeError, "is not running; start() it before pause()"):
        MemcachedServer().pause()


def test_leases_that_are_not_a_bool() -> None:
    with raises(TypeError, "leases must be True or False, got str: 'yes'", "memcached before 1.6"):
        MemcacheClient("127.0.0.1:1", leases="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("lease_ttl", [0, -5, 1.5, True])
def test_a_lease_ttl_that_is_not_whole_seconds(lease_ttl: Any) -> None:
    with raises(
        ValueError,
        "lease_ttl must be a whole number of seconds >= 1",
        f"got {lease_ttl!r}",
        "how long a lease",
    ):
        MemcacheClient("127.0.0.1:1", lease_ttl=lease_ttl)


def test_a_lease_wait_that_is_not_positive() -> None:
    with raises(ValueError, "lease_wait must be a positive number of seconds", "got 0"):
        MemcacheClient("127.0.0.1:1", lease_wait=0)


def test_stale_while_revalidate_that_is_not_a_bool(offline: MemcacheClient) -> None:
    with raises(TypeError, "stale_while_revalidate must be True or False, got int: 1"):

        @offline.cached("bio", stale_while_revalidate=1)  # type: ignore[arg-type]
        def bio(uid: int) -> str:
            return ""


def test_a_stale_ttl_that_memcached_would_misread(offline: MemcacheClient) -> None:
    with raises(ValueError, "stale_ttl must be a whole number of seconds from 0", "got -1"):
        offline.cached("bio", stale_while_revalidate=True, stale_ttl=-1)

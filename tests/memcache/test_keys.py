"""Any argument values become valid memcached keys, and distinct arguments distinct keys."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from asynq.memcache import MemcacheClient, is_valid_key, make_key

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=12
)
arguments = st.lists(values, max_size=4).map(tuple)


def identity(value: Any) -> Any:
    """What makes two argument values the same for a cache: type and content, recursively."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(identity(v) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


@given(arguments, st.sampled_from(["", "app:", "a" * 100]))
def test_any_arguments_give_a_valid_key(args: tuple[Any, ...], prefix: str) -> None:
    key = make_key("users.name", args, prefix)
    assert is_valid_key(key)
    assert key.startswith(prefix + "users.name:")


@given(arguments, arguments)
def test_distinct_arguments_give_distinct_keys(
    first: tuple[Any, ...], second: tuple[Any, ...]
) -> None:
    if identity(first) != identity(second):
        assert make_key("ns", first) != make_key("ns", second)
    else:
        assert make_key("ns", first) == make_key("ns", second)


def test_short_keys_stay_readable() -> None:
    assert make_key("users.name", (42,)) == "users.name:42"
    assert make_key("users.name", ("alice",)) == "users.name:alice"
    assert make_key("pair", (1, "a b")) == "pair:1,a%20b"
    assert make_key("none", ()) == "none:"


def test_values_that_would_read_alike_are_told_apart() -> None:
    keys = {
        make_key("ns", (1,)),
        make_key("ns", ("1",)),
        make_key("ns", (1.0,)),
        make_key("ns", (True,)),
        make_key("ns", (None,)),
        make_key("ns", ("~N",)),
        make_key("ns", ((1,),)),
        make_key("ns", ([1],)),
        make_key("ns", ("1,2",)),
        make_key("ns", (1, 2)),
        make_key("ns", (b"1",)),
        make_key("ns", ("",)),
    }
    assert len(keys) == 12


def test_long_keys_are_hashed_keeping_the_namespace() -> None:
    key = make_key("users.bio", ("x" * 1000,), "app:")
    assert key.startswith("app:users.bio:#") and len(key) < 100
    assert make_key("users.bio", ("x" * 1000,), "app:") == key
    assert make_key("users.bio", ("x" * 999,), "app:") != key


def test_whitespace_control_and_unicode_are_escaped() -> None:
    for text in [
        "a b",
        "tab\there",
        "new\nline",
        "nul\x00",
        "héllo",
        "日本",
        "\U0001f600",
        "\ud800",
    ]:
        key = make_key("ns", (text,))
        assert is_valid_key(key), (text, key)


def test_nan_and_infinities_have_keys() -> None:
    assert {
        make_key("f", (math.nan,)),
        make_key("f", (math.inf,)),
        make_key("f", (-math.inf,)),
    } == {
        "f:~fnan",
        "f:~finf",
        "f:~f-inf",
    }


@given(st.lists(st.text(), min_size=1, max_size=3))
def test_odd_string_arguments_round_trip_through_a_real_cache(
    _memcached_process: Any, texts: list[str]
) -> None:
    mc = MemcacheClient(_memcached_process.address)
    with mc:

        @mc.cached("echo")
        def echo(*parts: str) -> list[str]:
            return list(parts)

        assert echo(*texts) == texts
        assert mc.get(echo.key(*texts)) == texts

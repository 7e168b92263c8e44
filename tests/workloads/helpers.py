"""Shared pieces of the cache workloads: exact comparison, argument and value pools, clients.

These workloads state what a user of ``asynq.memcache`` may rely on, as documented in
``docs/memcache.md``; they are written against the documented contract only.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from hypothesis import strategies as st

_names = itertools.count()


def fresh_namespace(topic: str) -> str:
    """A namespace no earlier example used, so that every example starts cold."""
    return f"wl.{topic}.{next(_names)}"


def same(expected: Any, actual: Any) -> bool:
    """Equal in value and in type, recursively (``True`` is not ``1``, ``-0.0`` is not ``0.0``,
    ``(1,)`` is not ``[1]``)."""
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(actual)
        return repr(expected) == repr(actual)
    if isinstance(expected, (list, tuple)):
        return len(expected) == len(actual) and all(map(same, expected, actual))
    if isinstance(expected, dict):
        return list(expected) == list(actual) and all(
            same(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def shown(value: Any) -> str:
    """``repr`` with the types spelled out, for failure messages."""
    if isinstance(value, (list, tuple)):
        inner = ", ".join(shown(item) for item in value)
        return f"{type(value).__name__}[{inner}]"
    if isinstance(value, dict):
        inner = ", ".join(f"{key!r}: {shown(item)}" for key, item in value.items())
        return f"dict{{{inner}}}"
    return f"{type(value).__name__}:{value!r}"


def describe_call(*args: Any, **kwargs: Any) -> str:
    """What a test body returns for its arguments: a string that tells every argument apart
    by type and value (``repr`` distinguishes ``True``/``1``/``1.0``, ``-0.0``/``0.0``,
    ``(1,)``/``[1]``, ``"1"``/``1``/``b"1"``)."""
    return shown(list(args)) + " " + shown(dict(sorted(kwargs.items())))


# Argument values that compare equal (or print alike) but are different arguments.
TRICKY_ARGUMENTS: list[Any] = [
    True,
    1,
    1.0,
    "1",
    b"1",
    (1,),
    [1],
    (True,),
    [1.0],
    False,
    0,
    0.0,
    -0.0,
    "0",
    "",
    b"",
    (),
    [],
    None,
    "None",
    "~N",
    "~s1",
    "~(1)",
    "True",
    "a b",
    "a\tb",
    "a\nb",
    "a\r\nb",
    " ",
    "\x00",
    "\x7f",
    "%20",
    "a,b",
    "a:b",
    "é",
    "e\u0301",
    "日本語",
    "🙂",
    "x" * 300,
    "y" * 249,
    b"\xff\x00",
    2**64,
    -(2**63),
    1.5,
    float("inf"),
    float("-inf"),
    ("a", 1),
    ["a", 1],
    (("a", 1),),
    ((1, 2), [3]),
    [(1,)],
]

scalar_arguments = st.one_of(
    st.sampled_from(TRICKY_ARGUMENTS),
    st.integers(),
    st.text(max_size=40),
    st.binary(max_size=20),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(min_size=240, max_size=600),
)
arguments = st.recursive(
    scalar_arguments,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple)),
    max_leaves=6,
)
keyword_names = st.sampled_from(["a", "b", "key", "x"])
calls = st.tuples(
    st.lists(arguments, max_size=3).map(tuple),
    st.dictionaries(keyword_names, arguments, max_size=2),
)

# Values the docs promise to round-trip with the default JsonSerializer: ``bytes`` as they are
# (top level), ``str``, ``int``, and JSON for the rest: ``None``, ``bool``, finite ``float``,
# ``list`` and ``dict`` with ``str`` keys, nested. (Tuples are documented to come back as lists,
# so they are not in this set; NaN and infinities are not JSON.)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
cacheable_values = st.one_of(
    json_values, st.binary(max_size=40), st.text(min_size=1000, max_size=3000)
)

TRICKY_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**70,
    0.0,
    -0.0,
    1.0,
    1.5,
    1e300,
    "",
    "0",
    "1",
    "true",
    "null",
    "é日本🙂",
    "a\x00b",
    "x" * 5000,
    b"",
    b"1",
    b"\xff\xfe\x00",
    b"null",
    [],
    {},
    [True, 1, 1.0],
    [None, [None]],
    {"a": None},
    {"1": 1, "": [""]},
    ["1", 1, True],
    [[[]]],
    {"nested": {"deep": [0.0, -0.0, False]}},
]


def assert_none_wrong(wrong: list[str], checked: int) -> None:
    """Fail with a count and the first few mistakes, not a wall of text."""
    if wrong:
        first = "\n  ".join(wrong[:8])
        raise AssertionError(f"{len(wrong)} of {checked} checks were wrong; the first:\n  {first}")


# Calls that are easy to confuse: each group holds calls that compare equal or print alike.
CONFUSABLE_CALLS: list[list[tuple[tuple[Any, ...], dict[str, Any]]]] = [
    [((x,), {}) for x in (True, 1, 1.0, "1", b"1")],
    [((x,), {}) for x in (False, 0, 0.0, -0.0, "0", "", b"", None)],
    [((x,), {}) for x in ((1,), [1], (True,), [1.0], ((1,),), [[1]])],
    [((("a", 1),), {}), ((), {"a": 1}), (("a", 1), {}), ((["a", 1],), {}), ((), {"a": True})],
    [((x,), {}) for x in ("a b", "a%20b", "a\tb", "a\nb", "a_b", "a\x00b")],
    [((x,), {}) for x in ("x" * 300, "x" * 301, "x" * 300 + " ", ("x" * 300,))],
]

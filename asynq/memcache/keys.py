"""Memcached keys from Python values.

memcached accepts keys of at most 250 bytes with no whitespace or control characters. A cached
function's key is ``<prefix><namespace>:<arguments>``, where each argument is encoded so that
distinct arguments give distinct keys and any value of a supported type gives a valid key:

- an ``int`` is written in decimal: ``users.name:42``;
- a ``str`` is percent-encoded as UTF-8 (``"a b"`` -> ``a%20b``); a string that would read as an
  int (``"42"``) or is empty gets the marker ``~s``;
- ``None``, ``True``, ``False`` are ``~N``, ``~T``, ``~F``; a ``float`` is ``~f`` and its repr;
  ``bytes`` are ``~b`` and their percent-encoding;
- a ``tuple`` is ``~(a,b)``, a ``list`` ``~[a,b]``, nested as deep as needed;
- a keyword argument collected by ``**kwargs`` is ``name=value`` (``=`` never appears raw in
  an encoded value, so ``f(a=1)`` and ``f(("a", 1))`` have distinct keys).

``~``, ``,``, brackets and ``#`` never appear raw inside an encoded string, so the encoding can be
read back unambiguously. A key longer than 250 bytes becomes ``<prefix><namespace>:#<hash>`` (a
128-bit BLAKE2b of the full key), keeping the namespace readable.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote_from_bytes

__all__ = [
    "MAX_KEY_LENGTH",
    "KeyEncodingError",
    "encode_arg",
    "make_key",
    "check_namespace",
    "check_prefix",
    "check_raw_key",
    "is_valid_key",
]

MAX_KEY_LENGTH = 250
_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-/]{1,100}")
_PREFIX = re.compile(r"[!-~]{0,100}")  # printable ASCII, no space
_INTLIKE = re.compile(r"-?[0-9]+")
_SUPPORTED = "str, int, float, bool, None, bytes, and tuples or lists of those"


class KeyEncodingError(TypeError):
    """An argument value cannot be turned into a memcached key."""


class Keyword:
    """A keyword argument collected by ``**kwargs``: encoded as ``name=value`` in a key."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is Keyword and other.name == self.name and other.value == self.value

    def __hash__(self) -> int:
        return hash((self.name, self.value))

    def __repr__(self) -> str:
        return f"Keyword({self.name!r}, {self.value!r})"


def _quote(data: bytes) -> str:
    return quote_from_bytes(data, safe="").replace("~", "%7E")


def encode_arg(value: Any) -> str:
    """The key text of one argument value (see the module docstring)."""
    cls = type(value)
    if cls is int:
        return str(value)
    if cls is str:
        text = _quote(value.encode("utf-8", "surrogatepass"))
        if not text or _INTLIKE.fullmatch(text):
            return "~s" + text
        return text
    if value is None:
        return "~N"
    if cls is bool:
        return "~T" if value else "~F"
    if cls is float:
        return "~f" + repr(value)
    if cls is bytes:
        return "~b" + _quote(value)
    if cls is tuple:
        return "~(" + ",".join([encode_arg(v) for v in value]) + ")"
    if cls is list:
        return "~[" + ",".join([encode_arg(v) for v in value]) + "]"
    if cls is Keyword:
        return _quote(value.name.encode("utf-8", "surrogatepass")) + "=" + encode_arg(value.value)
    raise KeyEncodingError(
        f"cannot build a memcached key from a {cls.__name__} ({_short(value)}); supported "
        f"argument types are {_SUPPORTED}. Pass an id instead of the object, or give "
        "cached(..., key=...) a function that maps the arguments to supported values"
    )


def _short(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - only for the message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def make_key(namespace: str, args: tuple[Any, ...] = (), prefix: str = "") -> str:
    """The memcached key for ``args`` in ``namespace``: valid, and distinct for distinct args."""
    key = f"{prefix}{namespace}:{','.join([encode_arg(a) for a in args])}"
    if len(key) > MAX_KEY_LENGTH:
        digest = hashlib.blake2b(key.encode("ascii"), digest_size=16).hexdigest()
        key = f"{prefix}{namespace}:#{digest}"
    return key


def check_namespace(namespace: object) -> str:
    """Return ``namespace`` if it is usable, else raise a ValueError saying why."""
    if not isinstance(namespace, str):
        raise TypeError(
            f'a cache namespace must be a str such as "users.name", got '
            f'{type(namespace).__name__}: {_short(namespace)}; write @mc.cached("users.name")'
        )
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(
            f"cache namespace {namespace!r} is not usable: a namespace is 1 to 100 characters "
            "among letters, digits, '_', '.', '-' and '/' (it starts every key of the function, "
            'so it must stay short and unambiguous); for example "users.name"'
        )
    return namespace


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is a usable key prefix, else raise saying why."""
    if isinstance(prefix, bytes):
        prefix = prefix.decode("ascii", "replace")
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"key_prefix must be at most 100 printable ASCII characters without spaces, got "
            f'{_short(prefix)}; for example key_prefix="myapp:"'
        )
    return prefix


def is_valid_key(key: str) -> bool:
    """Whether memcached accepts ``key``: ASCII, no whitespace or control, at most 250 bytes."""
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and all(" " < c < "\x7f" for c in key)


def check_raw_key(key: object, prefix: str = "") -> str:
    """``prefix + key`` for a key given by the user, or a ValueError saying what is wrong."""
    if isinstance(key, bytes):
        try:
            key = key.decode("ascii")
        except UnicodeDecodeError:
            pass
    if not isinstance(key, str):
        raise TypeError(
            f"a memcached key must be a str, got {type(key).__name__}: {_short(key)}; build one "
            "from arbitrary values with asynq.memcache.make_key(namespace, args)"
        )
    full = prefix + key
    if is_valid_key(full):
        return full
    if not key:
        problem = "it is empty"
    elif len(full) > MAX_KEY_LENGTH:
        problem = f"it is {len(full)} characters long with the prefix (at most {MAX_KEY_LENGTH})"
    else:
        index, char = next((i, c) for i, c in enumerate(key) if not " " < c < "\x7f")
        problem = f"it contains {char!r} at index {index}"
    raise ValueError(
        f"{_short(key)} is not a valid memcached key: {problem}. Keys are ASCII without "
        "whitespace or control characters, at most 250 bytes; build one from arbitrary values "
        "with asynq.memcache.make_key(namespace, args)"
    )

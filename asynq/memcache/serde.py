"""How values are stored: serializers turn a value into bytes plus memcached flags and back.

The default, ``JsonSerializer``, cannot run code when it reads: it stores ``bytes`` as they are,
``str`` as UTF-8 and ``int`` in decimal (the same flags as pymemcache's default serde, so either
can read the other's values), and everything else as JSON. Tuples come back as lists, and dict
keys must be strings.

``PickleSerializer`` stores any picklable value. Unpickling runs code chosen by whoever wrote the
bytes, so use it only with a memcached that nobody else can write to.

A serializer is any object with ``serialize(key, value) -> (bytes, flags)`` and
``deserialize(key, data, flags) -> value`` (pymemcache's serde interface). ``deserialize`` may
raise: the client treats the value as a miss and logs one error. Both serializers also read
values compressed by pymemcache's ``CompressedSerde`` (zlib, flag 8).
"""

from __future__ import annotations

import json
import pickle
import zlib
from typing import Any, Protocol

__all__ = [
    "Serializer",
    "JsonSerializer",
    "PickleSerializer",
    "ValueDecodeError",
    "FLAG_BYTES",
    "FLAG_PICKLE",
    "FLAG_INTEGER",
    "FLAG_LONG",
    "FLAG_TEXT",
    "FLAG_JSON",
    "FLAG_COMPRESSED",
    "FLAG_CACHED",
]

FLAG_BYTES = 0
FLAG_PICKLE = 1 << 0
FLAG_INTEGER = 1 << 1
FLAG_LONG = 1 << 2
FLAG_COMPRESSED = 1 << 3
FLAG_TEXT = 1 << 4
FLAG_JSON = 1 << 8
# What a cached function writes instead of flags 0 (raw bytes): flags 0 is what any client
# stores plain bytes with, so a cached function treats an unmarked flags-0 value under its key
# as another client's (a miss), never as its own bytes. Serializers never see this bit.
FLAG_CACHED = 1 << 16

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode


class ValueDecodeError(ValueError):
    """Stored bytes could not be turned back into a value."""


class Serializer(Protocol):
    """What ``MemcacheClient(serializer=...)`` accepts."""

    def serialize(self, key: Any, value: Any) -> tuple[bytes, int]:
        """The bytes to store for ``value`` and the memcached flags that say how to read them."""
        ...

    def deserialize(self, key: Any, data: bytes, flags: int) -> Any:
        """The value stored as ``data`` with ``flags``; raise if it cannot be read."""
        ...


def _check_json(value: Any, path: str) -> None:
    cls = type(value)
    if cls is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise TypeError(
                    f"JsonSerializer cannot store {path}: it has the dict key {k!r} "
                    f"({type(k).__name__}), and JSON object keys are strings, so it would come "
                    "back changed. Convert the keys with str(), or opt in to "
                    "PickleSerializer() (unsafe on a shared memcached)"
                )
            _check_json(v, f"{path}[{k!r}]")
    elif cls is list or cls is tuple:
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]")
    elif value is None or cls in (str, int, float, bool):
        return
    else:
        raise TypeError(
            f"JsonSerializer cannot store {path}: a {cls.__name__} is not JSON "
            f"({_short(value)}). Store bytes (as the whole value), or str, int, float, bool, "
            "None, lists and dicts with str keys; convert the value, or opt in to PickleSerializer() (unsafe on a shared "
            "memcached)"
        )


def _short(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - only for the message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


class JsonSerializer:
    """Safe default: bytes, UTF-8 text, decimal ints, JSON for the rest. Never runs code."""

    name = "json"

    def serialize(self, key: Any, value: Any) -> tuple[bytes, int]:
        """``(data, flags)`` for ``value``; TypeError for a value JSON cannot represent."""
        cls = type(value)
        if cls is str:
            return value.encode("utf-8"), FLAG_TEXT
        if cls is bytes:
            return value, FLAG_BYTES
        if cls is int:
            return str(value).encode("ascii"), FLAG_INTEGER
        _check_json(value, "the value")
        return _encode(value).encode("utf-8"), FLAG_JSON

    def deserialize(self, key: Any, data: bytes, flags: int) -> Any:
        """The value stored as ``data`` with ``flags``; ValueDecodeError if it cannot be read."""
        try:
            if flags == FLAG_TEXT:
                return data.decode("utf-8")
            if flags == FLAG_JSON:
                return _decode(data.decode("utf-8"))
            if flags == FLAG_BYTES:
                return data
            if flags == FLAG_INTEGER or flags == FLAG_LONG:
                return int(data)
        except ValueError as error:  # includes UnicodeDecodeError and JSONDecodeError
            raise ValueDecodeError(
                f"{_short(data)} under flags {flags} cannot be decoded: {error}"
            ) from None
        return self._other_flags(data, flags)

    def _other_flags(self, data: bytes, flags: int) -> Any:
        if flags & FLAG_COMPRESSED:
            # Written by pymemcache's CompressedSerde (zlib, its default).
            try:
                data = zlib.decompress(data)
            except zlib.error as error:
                raise ValueDecodeError(
                    f"the value is marked compressed (flags {flags}) but is not zlib data: {error}"
                ) from None
            return self.deserialize(None, data, flags & ~FLAG_COMPRESSED)
        if flags & FLAG_PICKLE:
            raise ValueDecodeError(
                "the value is pickled (flags 1) and this client uses the safe JsonSerializer, "
                "which never unpickles: unpickling runs code chosen by whoever wrote the bytes. "
                "Pass serializer=PickleSerializer() only if nobody else can write to this "
                "memcached"
            )
        raise ValueDecodeError(f"unknown flags {flags} (not written by a known serializer)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PickleSerializer(JsonSerializer):
    """Stores any picklable value. UNSAFE on a memcached others can write to: loading a pickle
    runs code chosen by whoever wrote it."""

    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def serialize(self, key: Any, value: Any) -> tuple[bytes, int]:
        """Bytes, text and ints as JsonSerializer does; everything else pickled."""
        cls = type(value)
        if cls is str or cls is bytes or cls is int:
            return super().serialize(key, value)
        return pickle.dumps(value, self.protocol), FLAG_PICKLE

    def _other_flags(self, data: bytes, flags: int) -> Any:
        if flags & FLAG_PICKLE and not flags & FLAG_COMPRESSED:
            try:
                return pickle.loads(data)
            except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad value
                raise ValueDecodeError(f"the pickle cannot be loaded: {error!r}") from None
        return super()._other_flags(data, flags)

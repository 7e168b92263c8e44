"""Test helpers for asynq code: count and inspect the memcached round trips of a block.

    from asynq.testing import round_trips

    with round_trips(mc, at_most=2) as rt:
        render_feed(user_id)
    assert rt.keys[0] == ["user:1"]

Each *round trip* is one multi-get a ``MemcacheClient`` sent (to one or several servers). The
recorder subscribes to the client's ``on_round_trip`` hook when the block starts and unsubscribes
when it ends. ``at_most=`` / ``exactly=`` / ``keys=`` are checked when the block ends without an
error; the same checks are methods (``assert_at_most``, ``assert_count``, ``assert_keys``) for use
after the block. Failures list every round with its keys.

The pytest plugin (``asynq.pytest_plugin``) offers this as the ``round_trips`` fixture.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import Any

__all__ = ["round_trips", "RoundTrips"]

_FIX_HINT = (
    "Reads made one after the other each need a round; reads yielded together "
    "(`a, b = yield x.asynq(), y.asynq()`) share one."
)


def _check_count(name: str, value: object) -> int | None:
    if value is None:
        return None
    return _count(name, value)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(
            f"round_trips({name}=...) expects a number of round trips >= 0, got "
            f"{type(value).__name__}: {value!r}"
        )
    return value


def _check_rounds(expected: object, where: str) -> list[list[Any]]:
    example = "[['user:1', 'user:2'], ['post:7']]"
    if isinstance(expected, (str, bytes)) or not isinstance(expected, Sequence):
        raise TypeError(
            f"{where} expects a list of rounds, each a list of keys, got "
            f"{type(expected).__name__}: {expected!r}; for example {example}"
        )
    rounds = []
    for number, keys in enumerate(expected, 1):
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            raise TypeError(
                f"{where}: round {number} should be a list of keys, got "
                f"{type(keys).__name__}: {keys!r}; for example {example}"
            )
        rounds.append(list(keys))
    return rounds


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class RoundTrips:
    """The round trips a client made inside a ``with round_trips(client):`` block.

    ``rounds`` holds the client's records (``.keys``, ``.hits``, ``.seconds``, ``.servers``) in
    order; ``count`` and ``keys`` are read from them.
    """

    def __init__(
        self,
        client: Any,
        *,
        at_most: int | None = None,
        exactly: int | None = None,
        keys: Sequence[Sequence[Any]] | None = None,
    ) -> None:
        hook: Any = getattr(client, "on_round_trip", None)
        if not (
            callable(getattr(hook, "subscribe", None))
            and callable(getattr(hook, "unsubscribe", None))
        ):
            raise TypeError(
                f"round_trips() expects a MemcacheClient (an object with an on_round_trip event "
                f"hook), got {type(client).__name__}: {client!r}; pass the client the code under "
                "test reads through, e.g. round_trips(mc_client)"
            )
        self.at_most = _check_count("at_most", at_most)
        self.exactly = _check_count("exactly", exactly)
        if self.at_most is not None and self.exactly is not None:
            raise TypeError(
                f"round_trips() got at_most={at_most} and exactly={exactly}; pass one of them"
            )
        self.expected_keys = None if keys is None else _check_rounds(keys, "round_trips(keys=...)")
        self.client = client
        self._rounds: list[Any] = []
        self._hook: Any = hook
        self._state = "new"

    def _check_used(self) -> None:
        """Refuse to report on a recorder that never recorded: a ``with`` was forgotten."""
        if self._state in ("new", "reported"):
            raise RuntimeError(
                f"{self._call()} records only inside a `with` block, and this one was never "
                f"entered, so it saw nothing; write `with {self._call()} as rt:` around the code "
                "under test"
            )

    def _call(self) -> str:
        args = [
            f"{name}={value!r}"
            for name, value in (
                ("at_most", self.at_most),
                ("exactly", self.exactly),
                ("keys", self.expected_keys),
            )
            if value is not None
        ]
        return f"round_trips({', '.join(args)})"

    def never_entered(self) -> str | None:
        """An error message if this recorder was created but never used as a ``with`` block
        (it then checked nothing), else None. The pytest fixture fails the test with it."""
        if self._state != "new":
            return None
        self._state = "reported"
        return (
            f"{self._call()} was created but never used as a `with` block, so it checked "
            f"nothing; write `with {self._call()}:` around the code under test"
        )

    def __del__(self) -> None:
        if getattr(self, "_state", None) == "new" and (
            self.at_most is not None or self.exactly is not None or self.expected_keys is not None
        ):
            message = self.never_entered()
            warnings.warn(message or "", RuntimeWarning, stacklevel=1)

    # -- recording ------------------------------------------------------------------------------

    def _record(self, round_trip: Any) -> None:
        self._rounds.append(round_trip)

    def __enter__(self) -> RoundTrips:
        if self._state != "new":
            raise RuntimeError(
                f"this round_trips() block was already {self._state}; a recorder is used for "
                "one block: call round_trips(client) again for another"
            )
        self._state = "entered"
        self._hook.subscribe(self._record)
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True  # pytest shows the failing block, not this module
        self._hook.unsubscribe(self._record)
        self._state = "used"
        if typ is not None:
            return
        if self.exactly is not None:
            self.assert_count(self.exactly)
        if self.at_most is not None:
            self.assert_at_most(self.at_most)
        if self.expected_keys is not None:
            self.assert_keys(self.expected_keys)

    # -- reading --------------------------------------------------------------------------------

    @property
    def rounds(self) -> list[Any]:
        """The records of the round trips made inside the block, in order."""
        self._check_used()
        return self._rounds

    @property
    def count(self) -> int:
        """How many round trips were made."""
        self._check_used()
        return len(self._rounds)

    @property
    def keys(self) -> list[list[Any]]:
        """The full memcached keys of each round, in request order."""
        self._check_used()
        return [list(round_trip.keys) for round_trip in self._rounds]

    def describe(self) -> str:
        """One line per round: its number, how many keys and hits, and the keys."""
        if not self._rounds:
            return "  (no round trips)"
        lines = []
        for number, round_trip in enumerate(self._rounds, 1):
            keys = list(round_trip.keys)
            hits = getattr(round_trip, "hits", None)
            found = "" if hits is None else f", {_plural(hits, 'hit')}"
            listed = ", ".join(repr(key) for key in keys)
            lines.append(f"  round {number}: {_plural(len(keys), 'key')}{found}: {listed}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        if self._state in ("new", "reported"):
            return f"<RoundTrips {self._call()}, never entered>"
        keys = [list(round_trip.keys) for round_trip in self._rounds]
        return f"<RoundTrips count={len(self._rounds)} keys={keys!r}>"

    # -- assertions -----------------------------------------------------------------------------

    def assert_count(self, expected: int) -> None:
        """Fail unless exactly ``expected`` round trips were made."""
        __tracebackhide__ = True
        expected = _count("exactly", expected)
        if self.count != expected:
            raise AssertionError(
                f"expected exactly {_plural(expected, 'memcached round trip')}, got "
                f"{self.count}:\n{self.describe()}\n{_FIX_HINT}"
            )

    def assert_at_most(self, limit: int) -> None:
        """Fail if more than ``limit`` round trips were made."""
        __tracebackhide__ = True
        limit = _count("at_most", limit)
        if self.count > limit:
            raise AssertionError(
                f"expected at most {_plural(limit, 'memcached round trip')}, got "
                f"{self.count}:\n{self.describe()}\n{_FIX_HINT}"
            )

    def assert_keys(self, expected: Sequence[Sequence[Any]]) -> None:
        """Fail unless the rounds requested these keys: a list of rounds, each a list of full
        keys. Rounds are compared in order; keys within a round in any order, since the scheduler
        does not promise an order."""
        __tracebackhide__ = True
        rounds = _check_rounds(expected, "assert_keys()")
        if len(rounds) == self.count and all(
            Counter(map(repr, want)) == Counter(map(repr, got))
            for want, got in zip(rounds, self.keys, strict=True)
        ):
            return
        wanted = "\n".join(
            f"  round {number}: {', '.join(repr(key) for key in keys)}"
            for number, keys in enumerate(rounds, 1)
        )
        raise AssertionError(
            f"expected {_plural(len(rounds), 'round trip')} with these keys:\n"
            f"{wanted or '  (no round trips)'}\n"
            f"got {_plural(self.count, 'round trip')}:\n{self.describe()}\n"
            "(keys are full memcached keys, with the client's key_prefix; within a round they "
            "may come in any order)"
        )


def round_trips(
    client: Any,
    *,
    at_most: int | None = None,
    exactly: int | None = None,
    keys: Sequence[Sequence[Any]] | None = None,
) -> RoundTrips:
    """Record the round trips ``client`` makes inside a ``with`` block.

    ``at_most`` / ``exactly`` / ``keys`` are checked when the block ends (without an error);
    ``rt.count``, ``rt.keys`` and the ``assert_*`` methods are there for checks of your own.
    """
    return RoundTrips(client, at_most=at_most, exactly=exactly, keys=keys)

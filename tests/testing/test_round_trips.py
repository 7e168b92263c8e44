"""asynq.testing.round_trips, against a stand-in client that reports round trips on demand."""

from __future__ import annotations

import re
from typing import Any

import pytest
from qcore.events import EventHook

from asynq.memcache import RoundTrip
from asynq.testing import RoundTrips, round_trips


class StandInClient:
    """Has the one thing round_trips needs: an ``on_round_trip`` hook."""

    def __init__(self) -> None:
        self.on_round_trip = EventHook()

    def multi_get(self, *keys: str, hits: int = 0) -> None:
        self.on_round_trip(RoundTrip(list(keys), hits, 0.001, 1))


@pytest.fixture
def client() -> StandInClient:
    return StandInClient()


def raises_exactly(kind: type[BaseException], message: str) -> Any:
    return pytest.raises(kind, match=f"^{re.escape(message)}$")


# -- recording ----------------------------------------------------------------------------------


def test_records_each_round_trip_of_the_block_with_its_keys_in_request_order(
    client: StandInClient,
) -> None:
    client.multi_get("before")
    with round_trips(client) as rt:
        client.multi_get("user:2", "user:1", hits=1)
        client.multi_get("post:7")
    client.multi_get("after")
    assert rt.count == 2
    assert rt.keys == [["user:2", "user:1"], ["post:7"]]
    assert [r.hits for r in rt.rounds] == [1, 0]


def test_the_recorder_unsubscribes_when_the_block_ends(client: StandInClient) -> None:
    with round_trips(client) as rt:
        assert list(client.on_round_trip) == [rt._record]
    assert list(client.on_round_trip) == []


def test_the_recorder_unsubscribes_when_the_block_raises(client: StandInClient) -> None:
    with pytest.raises(KeyError), round_trips(client):
        raise KeyError("inside")
    assert list(client.on_round_trip) == []


def test_two_recorders_on_one_client_both_record(client: StandInClient) -> None:
    with round_trips(client) as outer:
        client.multi_get("a")
        with round_trips(client) as inner:
            client.multi_get("b")
    assert outer.keys == [["a"], ["b"]]
    assert inner.keys == [["b"]]


def test_the_repr_shows_the_count_and_keys(client: StandInClient) -> None:
    with round_trips(client) as rt:
        client.multi_get("a", "b")
    assert repr(rt) == "<RoundTrips count=1 keys=[['a', 'b']]>"


# -- limits checked when the block ends ---------------------------------------------------------


def test_at_most_passes_when_the_block_stays_within_the_limit(client: StandInClient) -> None:
    with round_trips(client, at_most=2) as rt:
        client.multi_get("a")
        client.multi_get("b")
    assert rt.count == 2


def test_at_most_fails_listing_every_round_and_its_keys(client: StandInClient) -> None:
    message = (
        "expected at most 1 memcached round trip, got 2:\n"
        "  round 1: 2 keys, 1 hit: 'user:1', 'user:2'\n"
        "  round 2: 1 key, 0 hits: 'post:7'\n"
        "Reads made one after the other each need a round; reads yielded together "
        "(`a, b = yield x.asynq(), y.asynq()`) share one."
    )
    with raises_exactly(AssertionError, message), round_trips(client, at_most=1):
        client.multi_get("user:1", "user:2", hits=1)
        client.multi_get("post:7")


def test_exactly_fails_when_there_were_fewer_round_trips(client: StandInClient) -> None:
    message = (
        "expected exactly 2 memcached round trips, got 0:\n"
        "  (no round trips)\n"
        "Reads made one after the other each need a round; reads yielded together "
        "(`a, b = yield x.asynq(), y.asynq()`) share one."
    )
    with raises_exactly(AssertionError, message), round_trips(client, exactly=2):
        pass


def test_keys_compare_rounds_in_order_and_keys_within_a_round_in_any_order(
    client: StandInClient,
) -> None:
    with round_trips(client, exactly=2, keys=[["b", "a"], ["c"]]) as rt:
        client.multi_get("a", "b")
        client.multi_get("c")
    assert rt.keys[0] == ["a", "b"]


def test_keys_fail_showing_what_was_expected_and_what_came(client: StandInClient) -> None:
    message = (
        "expected 2 round trips with these keys:\n"
        "  round 1: 'c'\n"
        "  round 2: 'a', 'b'\n"
        "got 2 round trips:\n"
        "  round 1: 2 keys, 0 hits: 'a', 'b'\n"
        "  round 2: 1 key, 0 hits: 'c'\n"
        "(keys are full memcached keys, with the client's key_prefix; within a round they may "
        "come in any order)"
    )
    with raises_exactly(AssertionError, message), round_trips(client, keys=[["c"], ["a", "b"]]):
        client.multi_get("a", "b")
        client.multi_get("c")


def test_a_repeated_key_counts_as_often_as_it_was_requested(client: StandInClient) -> None:
    with round_trips(client) as rt:
        client.multi_get("a", "a")
    with pytest.raises(AssertionError, match="expected 1 round trip with these keys"):
        rt.assert_keys([["a"]])
    rt.assert_keys([["a", "a"]])


def test_limits_are_not_checked_when_the_block_raises(client: StandInClient) -> None:
    with pytest.raises(KeyError, match="the block's own error"), round_trips(client, exactly=5):
        client.multi_get("a")
        raise KeyError("the block's own error")


# -- the same checks after the block ------------------------------------------------------------


def test_the_assert_methods_check_after_the_block(client: StandInClient) -> None:
    with round_trips(client) as rt:
        client.multi_get("a")
        client.multi_get("b")
    rt.assert_count(2)
    rt.assert_at_most(2)
    rt.assert_at_most(3)
    rt.assert_keys([["a"], ["b"]])
    with pytest.raises(AssertionError, match=r"^expected exactly 1 memcached round trip, got 2:"):
        rt.assert_count(1)
    with pytest.raises(AssertionError, match=r"^expected at most 0 memcached round trips, got 2"):
        rt.assert_at_most(0)


def test_zero_round_trips_is_a_valid_expectation(client: StandInClient) -> None:
    with round_trips(client, exactly=0, keys=[]) as rt:
        pass
    assert rt.count == 0
    assert rt.describe() == "  (no round trips)"


# -- misuse ---------------------------------------------------------------------------------------


def test_something_without_an_on_round_trip_hook_is_refused() -> None:
    with raises_exactly(
        TypeError,
        "round_trips() expects a MemcacheClient (an object with an on_round_trip event hook), "
        "got int: 3; pass the client the code under test reads through, e.g. "
        "round_trips(mc_client)",
    ):
        round_trips(3)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_a_limit_that_is_not_a_count_is_refused(client: StandInClient, bad: Any) -> None:
    with raises_exactly(
        TypeError,
        f"round_trips(at_most=...) expects a number of round trips >= 0, got "
        f"{type(bad).__name__}: {bad!r}",
    ):
        round_trips(client, at_most=bad)


def test_at_most_and_exactly_together_are_refused(client: StandInClient) -> None:
    with raises_exactly(TypeError, "round_trips() got at_most=2 and exactly=1; pass one of them"):
        round_trips(client, at_most=2, exactly=1)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            "user:1",
            "round_trips(keys=...) expects a list of rounds, each a list of keys, got str: "
            "'user:1'; for example [['user:1', 'user:2'], ['post:7']]",
        ),
        (
            ["user:1"],
            "round_trips(keys=...): round 1 should be a list of keys, got str: 'user:1'; "
            "for example [['user:1', 'user:2'], ['post:7']]",
        ),
    ],
)
def test_keys_that_are_not_a_list_of_rounds_are_refused(
    client: StandInClient, keys: Any, message: str
) -> None:
    with raises_exactly(TypeError, message):
        round_trips(client, keys=keys)


def test_assert_keys_with_a_flat_list_is_refused(client: StandInClient) -> None:
    rt = RoundTrips(client)
    with raises_exactly(
        TypeError,
        "assert_keys(): round 1 should be a list of keys, got str: 'a'; for example "
        "[['user:1', 'user:2'], ['post:7']]",
    ):
        rt.assert_keys(["a"])


def test_a_recorder_is_used_for_one_block(client: StandInClient) -> None:
    recorder = round_trips(client)
    with recorder:
        with raises_exactly(
            RuntimeError,
            "this round_trips() block was already entered; a recorder is used for one block: "
            "call round_trips(client) again for another",
        ):
            recorder.__enter__()
    with raises_exactly(
        RuntimeError,
        "this round_trips() block was already used; a recorder is used for one block: "
        "call round_trips(client) again for another",
    ):
        recorder.__enter__()


# -- a recorder used without `with` -------------------------------------------------------------


def test_reading_a_recorder_that_was_never_entered_says_the_with_is_missing(
    client: StandInClient,
) -> None:
    recorder = round_trips(client, exactly=2)
    client.multi_get("a")
    message = (
        "round_trips(exactly=2) records only inside a `with` block, and this one was never "
        "entered, so it saw nothing; write `with round_trips(exactly=2) as rt:` around the code "
        "under test"
    )
    for read in (
        lambda: recorder.count,
        lambda: recorder.keys,
        lambda: recorder.rounds,
        lambda: recorder.assert_count(0),
        lambda: recorder.assert_at_most(5),
        lambda: recorder.assert_keys([]),
    ):
        with raises_exactly(RuntimeError, message):
            read()
    assert repr(recorder) == "<RoundTrips round_trips(exactly=2), never entered>"
    assert recorder.never_entered() is not None


def test_a_recorder_with_limits_that_is_dropped_unentered_warns_that_it_checked_nothing(
    client: StandInClient,
) -> None:
    with pytest.warns(RuntimeWarning) as warned:
        round_trips(client, at_most=1)  # the `with` is missing: nothing is checked
    assert str(warned[0].message) == (
        "round_trips(at_most=1) was created but never used as a `with` block, so it checked "
        "nothing; write `with round_trips(at_most=1):` around the code under test"
    )


def test_a_recorder_that_was_entered_reports_nothing_unused(client: StandInClient) -> None:
    recorder = round_trips(client, keys=[["a"]])
    with recorder:
        client.multi_get("a")
    assert recorder.never_entered() is None
    assert recorder.count == 1

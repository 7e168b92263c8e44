"""Cached model functions: hits skip the body, misses run it once and write the value back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from asynq import AsyncScopedValue, asynq, get_scheduler
from asynq.memcache import MemcacheClient

from .conftest import record_trips


def record_writes(mc: MemcacheClient, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of every write request the client's server pool sends (one list per
    set_many round)."""
    flushes: list[list[str]] = []
    send = mc.pool.send

    def spy(ops: list[Any], deadline: float | None = None) -> list[bool]:
        if ops:
            flushes.append([op[1] for op in ops])
        return send(ops, deadline)

    monkeypatch.setattr(mc.pool, "send", spy)
    return flushes


def test_a_miss_runs_the_body_and_writes_the_value_back(mc: MemcacheClient) -> None:
    calls: list[int] = []

    @mc.cached("square")
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9
    assert mc.get("square:3") == 9  # same connection: after the noreply write-back
    assert square(3) == 9
    assert calls == [3]


def test_misses_of_one_round_are_written_back_with_one_set_many_sent_with_the_next_round(
    mc: MemcacheClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = record_writes(mc, monkeypatch)
    trips = record_trips(mc)

    @mc.cached("leaf")
    def leaf(x: int) -> int:
        return x

    @mc.cached("double")
    def double(x: int) -> int:
        return 2 * x

    @mc.cached("chain")
    @asynq()
    def chain(x: int) -> Any:
        return (yield leaf.asynq(x)) + 1

    @asynq()
    def page() -> Any:
        return (yield [double.asynq(1), double.asynq(2), chain.asynq(5)])

    assert page() == [2, 4, 6]
    assert trips == [["double:1", "double:2", "chain:5"], ["leaf:5"]]
    # Round 1's misses go out just before round 2's multi-get; the rest when the request ends.
    assert writes == [["double:1", "double:2"], ["leaf:5", "chain:5"]]
    assert mc.get_many(["double:1", "double:2", "chain:5", "leaf:5"]) == {
        "double:1": 2,
        "double:2": 4,
        "chain:5": 6,
        "leaf:5": 5,
    }


def test_a_body_that_yields_is_batched_with_the_rest_of_the_round(mc: MemcacheClient) -> None:
    trips = record_trips(mc)
    mc.set_many({"base:1": 10, "base:2": 20})

    @mc.cached("base")
    def base(x: int) -> int:
        raise AssertionError("only read from memcached in this test")

    @mc.cached("derived")
    @asynq()
    def derived(x: int) -> Any:
        return (yield base.asynq(x)) + 1

    @asynq()
    def page() -> Any:
        return (yield [derived.asynq(1), derived.asynq(2), base.asynq(1)])

    assert page() == [11, 21, 10]
    assert trips == [["derived:1", "derived:2", "base:1"], ["base:2"]]


def test_calls_with_the_same_arguments_share_one_key_and_one_computation(
    mc: MemcacheClient,
) -> None:
    trips = record_trips(mc)
    calls: list[tuple[int, int]] = []

    @mc.cached("add")
    def add(a: int, b: int = 0) -> int:
        calls.append((a, b))
        return a + b

    @asynq()
    def many() -> Any:
        return (yield [add.asynq(1, 2), add.asynq(1, b=2), add.asynq(a=1, b=2), add.asynq(5)])

    assert many() == [3, 3, 3, 5]
    assert add.key(1, 2) == add.key(a=1, b=2) == "add:1,2"
    assert add.key(5) == "add:5,0"
    assert trips == [["add:1,2", "add:5,0"]]
    assert calls == [(1, 2), (5, 0)]


def test_dirty_deletes_the_value_so_the_next_read_computes_it_again(mc: MemcacheClient) -> None:
    version = [1]

    @mc.cached("version")
    def current(x: str) -> int:
        return version[0]

    assert current("a") == 1
    version[0] = 2
    assert current("a") == 1
    assert current.dirty("a") is True
    assert current("a") == 2
    assert current.dirty("never-cached") is False


def test_dirty_inside_a_request_scope_also_drops_the_request_local_value(
    mc: MemcacheClient,
) -> None:
    version = [1]

    @mc.cached("scoped.version")
    def current(x: int) -> int:
        return version[0]

    with mc.request():
        assert current(1) == 1
        version[0] = 2
        assert current(1) == 1
        current.dirty(1)
        assert current(1) == 2


def test_values_expire_after_the_functions_ttl(_embedded_process: Any) -> None:
    server = _embedded_process
    server.flush_all()
    mc = MemcacheClient(server.address)

    @mc.cached("short", ttl=60)
    def short(x: int) -> int:
        return x

    @mc.cached("forever")
    def forever(x: int) -> int:
        return x

    short(1)
    forever(1)
    # A read on the same connection is answered after the write-backs landed: only then may
    # the clock move (past the 10 s a lease lasts).
    assert mc.get_many(["short:1", "forever:1"]) == {"short:1": 1, "forever:1": 1}
    server.server.advance(59)
    assert mc.get_many(["short:1", "forever:1"]) == {"short:1": 1, "forever:1": 1}
    server.server.advance(2)
    assert mc.get_many(["short:1", "forever:1"]) == {"forever:1": 1}


@pytest.mark.slow
def test_a_real_memcached_expires_values_after_the_ttl(_memcached_process: Any) -> None:
    _memcached_process.flush_all()
    mc = MemcacheClient(_memcached_process.address)

    @mc.cached("one.second", ttl=1)
    def brief(x: int) -> int:
        return x

    brief(1)
    assert mc.get("one.second:1") == 1
    time.sleep(2.1)  # memcached's clock ticks once a second
    assert mc.get("one.second:1") is None


def test_a_client_default_ttl_applies_to_functions_without_their_own(memcached: Any) -> None:
    mc = MemcacheClient(memcached.address, default_ttl=30)

    @mc.cached("defaulted")
    def defaulted(x: int) -> int:
        return x

    @mc.cached("own", ttl=5)
    def own(x: int) -> int:
        return x

    assert (defaulted.ttl, own.ttl) == (30, 5)


def test_an_error_in_the_body_reaches_the_caller_and_nothing_is_cached(
    mc: MemcacheClient,
) -> None:
    attempts: list[int] = []

    @mc.cached("flaky")
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise LookupError("database hiccup")
        return x

    @asynq()
    def caller() -> Any:
        try:
            yield flaky.asynq(1)
        except LookupError as error:
            return f"caught {error}"

    assert caller() == "caught database hiccup"
    assert mc.get("flaky:1") is None
    assert flaky(1) == 1
    assert mc.get("flaky:1") == 1


def test_a_cached_value_of_none_is_a_hit(mc: MemcacheClient) -> None:
    calls: list[int] = []

    @mc.cached("nothing")
    def nothing(x: int) -> None:
        calls.append(x)

    assert nothing(1) is None
    assert nothing(1) is None
    assert calls == [1]


def test_the_body_runs_inside_the_contexts_of_the_task_that_asked(mc: MemcacheClient) -> None:
    user = AsyncScopedValue("nobody")

    @mc.cached("whoami")
    def whoami(x: int) -> str:
        return user()

    @asynq()
    def ask() -> Any:
        with user.override("alice"):
            return (yield whoami.asynq(1))

    assert ask() == "alice"


def test_a_synchronous_call_inside_a_task_works_and_is_counted_as_impure(
    mc: MemcacheClient,
) -> None:
    @mc.cached("plain")
    def plain(x: int) -> int:
        return x + 1

    @asynq()
    def outer() -> Any:
        yield None
        return plain(1)

    before = get_scheduler().stats.impure_calls
    assert outer() == 2
    assert get_scheduler().stats.impure_calls == before + 1


def test_dump_sync_calls_logs_a_synchronous_call_of_a_cached_function_inside_a_task(
    mc: MemcacheClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asynq.debug import options

    monkeypatch.setattr(options, "DUMP_SYNC_CALLS", True)

    @mc.cached("logged")
    def logged(x: int) -> int:
        return x + 1

    @asynq()
    def outer() -> Any:
        yield None
        return logged(1)

    with caplog.at_level("WARNING", logger="asynq"):
        assert outer() == 2
        assert logged(2) == 3  # outside tasks: not reported
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert messages[0].startswith(
        f"asynq: <cached function {logged.__qualname__} in 'logged' on {mc!r}> was called "
        "synchronously inside <AsyncTask "
    )
    assert messages[0].endswith(
        "its reads are not batched with the caller's other work. Write `yield "
        "logged.asynq(...)` instead."
    )


def test_cached_functions_have_asyncio_like_every_asynq_callable(mc: MemcacheClient) -> None:
    import asyncio

    @mc.cached("via_asyncio")
    def twice(x: int) -> int:
        return 2 * x

    async def main() -> Any:
        return await asyncio.gather(twice.asyncio(1), twice.asyncio(2))

    before = mc.stats.round_trips
    assert asyncio.run(main()) == [2, 4]
    assert mc.stats.round_trips == before + 1  # both reads in one multi-get
    assert twice(2) == 4
    assert mc.get("via_asyncio:2") == 4


def test_cached_functions_keep_their_name_and_expose_the_wrapped_function(
    mc: MemcacheClient,
) -> None:
    def name_of_user(uid: int) -> str:
        """The display name."""
        return str(uid)

    cached = mc.cached("users.name")(name_of_user)
    assert cached.__name__ == "name_of_user"
    assert cached.__doc__ == "The display name."
    assert cached.__wrapped__ is name_of_user
    assert "users.name" in repr(cached)


def test_a_key_function_picks_what_identifies_a_call(mc: MemcacheClient) -> None:
    @mc.cached("profile", key=lambda user: user["id"])
    def profile(user: dict[str, Any]) -> str:
        return f"{user['name']} ({user['id']})"

    assert profile({"id": 7, "name": "Ada"}) == "Ada (7)"
    assert profile.key({"id": 7, "name": "changed"}) == "profile:7"
    assert profile({"id": 7, "name": "changed"}) == "Ada (7)"

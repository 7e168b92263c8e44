"""acached_per_instance, alru_cache, alazy_constant and deduplicate: bodies run once per key,
callers that arrive while a call is in flight share its task, failures are never remembered."""

from __future__ import annotations

import gc
import pickle
import threading
import time
import weakref
from collections.abc import Generator
from typing import Any

import pytest
from core.helpers import KeyKind

from asynq import AsyncTask, asynq
from asynq.tools import acached_per_instance, alazy_constant, alru_cache, deduplicate

Gen = Generator[Any, Any, Any]


@pytest.fixture
def kv() -> KeyKind:
    return KeyKind("kv")


class Account:
    """A picklable class with a cached asynq method (module level, so pickle can find it)."""

    calls: list[tuple[int, int, int]] = []
    kv: KeyKind | None = None

    def __init__(self, uid: int) -> None:
        self.uid = uid

    @acached_per_instance()
    @asynq()
    def balance(self, month: int, year: int = 2024) -> Gen:
        Account.calls.append((self.uid, month, year))
        if Account.kv is not None:
            yield Account.kv.get((self.uid, month))
        if month == 13:
            raise ValueError("no month 13")
        return self.uid * 100 + month

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Account) and other.uid == self.uid

    def __hash__(self) -> int:
        return self.uid


@pytest.fixture
def accounts(kv: KeyKind) -> Any:
    Account.calls = []
    Account.kv = kv
    yield Account
    Account.kv = None


def cache_of(method: Any) -> dict[int, Any]:
    cache: dict[int, Any] = method.__acached_per_instance_cache__
    return cache


# -- acached_per_instance ------------------------------------------------------------------------


def test_acached_per_instance_runs_the_body_once_per_instance_and_arguments(accounts: Any) -> None:
    account = accounts(1)
    assert account.balance(5) == 105
    assert account.balance(5) == 105
    assert account.balance(5, 2024) == 105
    assert account.balance(month=5, year=2024) == 105
    assert account.balance(6) == 106
    assert accounts.calls == [(1, 5, 2024), (1, 6, 2024)]


def test_acached_per_instance_keeps_equal_instances_apart(accounts: Any) -> None:
    first, twin = accounts(1), accounts(1)
    assert first == twin
    assert first.balance(5) == twin.balance(5) == 105
    assert accounts.calls == [(1, 5, 2024), (1, 5, 2024)]


def test_concurrent_calls_share_one_task_and_one_read(accounts: Any, kv: KeyKind) -> None:
    account = accounts(2)

    @asynq()
    def three() -> Gen:
        return (
            yield [account.balance.asynq(1), account.balance.asynq(1), account.balance.asynq(1)]
        )

    assert three() == [201, 201, 201]
    assert accounts.calls == [(2, 1, 2024)]
    assert kv.flushes == [[(2, 1)]]


def test_a_cached_value_is_returned_without_a_flush(accounts: Any, kv: KeyKind) -> None:
    account = accounts(3)
    account.balance(1)
    task = account.balance.asynq(1)
    assert task.is_computed() and task.value() == 301
    assert kv.flushes == [[(3, 1)]]


def test_a_failure_is_not_cached(accounts: Any) -> None:
    account = accounts(4)
    for _ in range(2):
        with pytest.raises(ValueError, match="no month 13"):
            account.balance(13)
    assert accounts.calls == [(4, 13, 2024), (4, 13, 2024)]


def test_entries_are_evicted_when_the_instance_is_garbage_collected(accounts: Any) -> None:
    cache = cache_of(accounts.__dict__["balance"])
    account = accounts(5)
    account.balance(1)
    account.balance(2)
    ident = id(account)
    assert cache[ident][1] == {(1, 2024): 501, (2, 2024): 502}
    alive = weakref.ref(account)
    del account
    gc.collect()
    assert alive() is None  # the cache does not keep the instance alive
    assert ident not in cache


def test_a_new_instance_at_a_recycled_address_does_not_see_old_entries(accounts: Any) -> None:
    for _ in range(20):  # CPython often reuses the address of a freed object of the same size
        account = accounts(6)
        assert account.balance(1) == 601
        del account
    assert accounts.calls == [(6, 1, 2024)] * 20


def test_pickling_an_instance_leaves_its_cache_behind(accounts: Any) -> None:
    account = accounts(7)
    account.balance(1)
    copy = pickle.loads(pickle.dumps(account))
    assert vars(copy) == {"uid": 7}
    assert copy.balance(1) == 701
    assert accounts.calls == [(7, 1, 2024), (7, 1, 2024)]


# -- alru_cache ----------------------------------------------------------------------------------


def test_alru_cache_evicts_the_least_recently_used_entry(kv: KeyKind) -> None:
    calls: list[int] = []

    @alru_cache(maxsize=2)
    @asynq()
    def square(n: int) -> Gen:
        calls.append(n)
        yield kv.get(n)
        return n * n

    assert [square(1), square(2), square(1), square(3), square(2), square(1)] == [1, 4, 1, 9, 4, 1]
    # 3 evicted 2 (1 had just been used); then 2 evicted 1
    assert calls == [1, 2, 3, 2, 1]
    assert square.cache_size() == 2


def test_alru_cache_fills_in_defaults_so_every_spelling_of_a_call_shares_an_entry() -> None:
    calls: list[tuple[int, int]] = []

    @alru_cache()
    @asynq()
    def power(base: int, exponent: int = 2) -> int:
        calls.append((base, exponent))
        return int(base**exponent)

    assert power(3) == power(3, 2) == power(base=3) == power(exponent=2, base=3) == 9
    assert calls == [(3, 2)]


def test_alru_cache_uses_the_key_function_given(kv: KeyKind) -> None:
    calls: list[int] = []

    @alru_cache(maxsize=4, key_fn=lambda args, kwargs: args[0] % 10)
    @asynq()
    def last_digit(n: int) -> int:
        calls.append(n)
        return n % 10

    assert [last_digit(3), last_digit(13), last_digit(4)] == [3, 3, 4]
    assert calls == [3, 4]


def test_alru_cache_shares_in_flight_calls_and_does_not_cache_failures(kv: KeyKind) -> None:
    calls: list[int] = []

    @alru_cache()
    @asynq()
    def fragile(n: int) -> Gen:
        calls.append(n)
        yield kv.get(n)
        if n < 0:
            raise ValueError(n)
        return n

    @asynq()
    def together() -> Gen:
        return (yield fragile.asynq(1), fragile.asynq(1))

    assert together() == (1, 1)
    for _ in range(2):
        with pytest.raises(ValueError):
            fragile(-1)
    assert calls == [1, -1, -1]
    assert kv.flushes == [[1], [-1], [-1]]


def test_alru_cache_dirty_and_clear_forget_entries() -> None:
    calls: list[int] = []

    @alru_cache()
    @asynq()
    def ident(n: int) -> int:
        calls.append(n)
        return n

    ident(1)
    ident(2)
    ident.dirty(1)
    ident(1)
    ident(2)
    ident.clear()
    ident(2)
    assert calls == [1, 2, 1, 2]


def test_a_value_computed_before_dirty_is_not_stored_after_it(kv: KeyKind) -> None:
    version = {"current": 1}

    @alru_cache()
    @asynq()
    def config(name: str) -> Gen:
        seen = version["current"]
        if seen == 1:
            version["current"] = 2
            config.dirty(name)  # invalidated while this call is computing
        yield kv.get(name)
        return seen

    assert config("x") == 1  # the caller gets what was computed for it...
    assert config("x") == 2  # ...but it was not stored: the next call computes again
    assert config("x") == 2
    assert kv.flushes == [["x"], ["x"]]


# -- alazy_constant ------------------------------------------------------------------------------


def test_alazy_constant_computes_once_until_dirty(kv: KeyKind) -> None:
    calls: list[int] = []

    @alazy_constant()
    @asynq()
    def settings() -> Gen:
        calls.append(1)
        yield kv.get("settings")
        return {"version": len(calls)}

    assert settings() == {"version": 1}
    assert settings() == {"version": 1}
    settings.dirty()
    assert settings() == {"version": 2}
    assert kv.flushes == [["settings"], ["settings"]]


def test_alazy_constant_shares_the_first_computation_between_concurrent_callers(
    kv: KeyKind,
) -> None:
    calls: list[int] = []

    @alazy_constant()
    @asynq()
    def constant() -> Gen:
        calls.append(1)
        yield kv.get("c")
        return 42

    @asynq()
    def both() -> Gen:
        return (yield constant.asynq(), constant.asynq())

    assert both() == (42, 42)
    assert calls == [1]


def test_alazy_constant_recomputes_once_its_ttl_has_passed() -> None:
    calls: list[int] = []

    @alazy_constant(ttl=1000)  # microseconds
    @asynq()
    def short_lived() -> int:
        calls.append(1)
        return len(calls)

    @alazy_constant(ttl=60_000_000)
    @asynq()
    def long_lived() -> int:
        calls.append(2)
        return 7

    assert short_lived() == 1
    assert long_lived() == 7
    time.sleep(0.01)  # ten times the short ttl
    assert short_lived() == 3
    assert long_lived() == 7
    assert calls == [1, 2, 1]


def test_alazy_constant_does_not_keep_a_failure() -> None:
    attempts: list[int] = []

    @alazy_constant()
    @asynq()
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("first time")
        return 5

    with pytest.raises(ConnectionError):
        flaky()
    assert flaky() == 5
    assert flaky() == 5
    assert attempts == [1, 1]


# -- deduplicate ---------------------------------------------------------------------------------


def test_identical_concurrent_calls_share_one_task_and_one_body_run(kv: KeyKind) -> None:
    runs: list[tuple[int, int]] = []

    @deduplicate()
    @asynq()
    def load(uid: int, depth: int = 1) -> Gen:
        runs.append((uid, depth))
        yield kv.get(uid)
        return uid + depth

    first = load.asynq(1)
    assert load.asynq(1) is first
    assert load.asynq(1, 1) is first
    assert load.asynq(uid=1) is first
    assert load.asynq(2) is not first

    @asynq()
    def many() -> Gen:
        return (yield [load.asynq(1), load.asynq(1, depth=1), load.asynq(2), first])

    assert many() == [2, 2, 3, 2]
    assert runs == [(1, 1), (2, 1)]
    assert kv.flushes == [[1, 2]]


def test_a_finished_call_is_not_cached_the_next_call_runs_again() -> None:
    runs: list[int] = []

    @deduplicate()
    @asynq()
    def tick(n: int) -> int:
        runs.append(n)
        return len(runs)

    assert tick(1) == 1
    assert tick(1) == 2
    assert runs == [1, 1]


def test_dirty_detaches_the_in_flight_task_from_later_calls(kv: KeyKind) -> None:
    @deduplicate()
    @asynq()
    def load(uid: int) -> Gen:
        return (yield kv.get(uid))

    first = load.asynq(5)
    load.dirty(5)
    second = load.asynq(5)
    assert second is not first
    assert load.asynq(5) is second
    assert first.value() == second.value() == ("value", 5)


def test_a_call_made_while_the_in_flight_task_is_running_gets_its_own_task() -> None:
    made_inside: list[Any] = []

    @deduplicate()
    @asynq()
    def reentrant(n: int) -> int:
        made_inside.append(reentrant.asynq(n))  # same key, while this call's task runs
        return n

    outer = reentrant.asynq(3)
    assert reentrant.asynq(3) is outer
    assert outer.value() == 3
    # waiting for the running task from inside itself would deadlock: a fresh task instead
    assert made_inside[0] is not outer
    assert isinstance(made_inside[0], AsyncTask) and not made_inside[0].is_computed()


def test_a_deduplicated_function_that_calls_itself_with_the_same_key_still_finishes() -> None:
    depth: list[int] = []

    @deduplicate()
    @asynq()
    def recursive(n: int) -> int:
        depth.append(n)
        if len(depth) < 3:
            return recursive(n) + 1  # same key, synchronous: a new task each time
        return 0

    assert recursive(1) == 2
    assert depth == [1, 1, 1]


def test_deduplicate_uses_the_key_getter_given(kv: KeyKind) -> None:
    runs: list[int] = []

    @deduplicate(keygetter=lambda args, kwargs: args[0] % 10)
    @asynq()
    def load(n: int) -> Gen:
        runs.append(n)
        yield kv.get(n)
        return n

    @asynq()
    def both() -> Gen:
        return (yield load.asynq(1), load.asynq(11))

    assert both() == (1, 1)
    assert runs == [1]


def test_an_error_reaches_every_caller_and_is_not_remembered(kv: KeyKind) -> None:
    runs: list[int] = []

    @deduplicate()
    @asynq()
    def failing(n: int) -> Gen:
        runs.append(n)
        yield kv.get(n)
        raise LookupError(n)

    @asynq()
    def both() -> Gen:
        results = []
        for task in [failing.asynq(1), failing.asynq(1)]:
            try:
                yield task
            except LookupError:
                results.append("failed")
        return results

    assert both() == ["failed", "failed"]
    with pytest.raises(LookupError):
        failing(1)
    assert runs == [1, 1]


def test_deduplicated_methods_are_per_instance(kv: KeyKind) -> None:
    runs: list[tuple[str, int]] = []

    class Feed:
        def __init__(self, name: str) -> None:
            self.name = name

        @deduplicate()
        @asynq()
        def item(self, n: int) -> Gen:
            runs.append((self.name, n))
            yield kv.get((self.name, n))
            return n

    a, b = Feed("a"), Feed("b")

    @asynq()
    def all_of_them() -> Gen:
        return (yield [a.item.asynq(1), a.item.asynq(1), b.item.asynq(1)])

    assert all_of_them() == [1, 1, 1]
    assert runs == [("a", 1), ("b", 1)]


def test_in_flight_tasks_are_not_shared_across_threads(kv: KeyKind) -> None:
    @deduplicate()
    @asynq()
    def load(n: int) -> Gen:
        return (yield kv.get(n))

    here = load.asynq(1)
    there: list[Any] = []
    thread = threading.Thread(target=lambda: there.append(load.asynq(1)))
    thread.start()
    thread.join()
    assert there[0] is not here
    assert load.asynq(1) is here
    assert here.value() == ("value", 1)

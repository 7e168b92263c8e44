"""Foreign data under a cached function's key: another client wrote something else there.

docs/memcache.md: "A value that cannot be decoded (garbage bytes, or a pickle read by the JSON
serializer, which never unpickles) is a miss plus one logged error and one count in
``stats.errors``; a cached function then recomputes and overwrites it." And the JSON serializer
"cannot run code when it reads". So the cached function returns its body's value, never the
foreign bytes, and does not raise, whether read synchronously or yielded in a batch.
"""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pymemcache.client.base import Client

from asynq import asynq
from asynq.memcache import MemcacheClient
from workloads.helpers import fresh_namespace, same, shown

# Payloads no reader can take for a value of ours: wrong bytes under a format's flag, a pickle
# (never unpickled by the JSON serializer), flags nobody uses.
UNDECODABLE = [
    pytest.param(b"\xff\xfe not utf-8", 16, id="bad-utf8-under-pymemcache-text-flag"),
    pytest.param(b"twelve", 2, id="not-a-number-under-pymemcache-int-flag"),
    pytest.param(b"1.5e", 4, id="not-a-number-under-pymemcache-long-flag"),
    pytest.param(pickle.dumps("foreign"), 1, id="pickle-under-pymemcache-pickle-flag"),
    pytest.param(pickle.dumps({"a": 1}), 1 | 16, id="pickle-with-mixed-flags"),
    pytest.param(b"garbage", 8, id="garbage-under-pymemcache-compressed-flag"),
    pytest.param(b"{not json", 256, id="broken-json-under-asynq-json-flag"),
    pytest.param(b"\x80\x04garbage", 256, id="binary-under-asynq-json-flag"),
    pytest.param(b"whatever", 0xFFFF, id="unknown-flags"),
    pytest.param(b"", 256, id="empty-under-asynq-json-flag"),
]
# Payloads that are some other client's plain bytes (flags 0): not what the body returns for
# these arguments. (Text and ints in pymemcache's own format are the documented exception: "with
# pymemcache's flags, so either library reads the other's values"; see the test below.)
OTHER_CLIENTS_VALUES = [
    pytest.param(b"\x00\xffraw bytes", 0, id="raw-bytes-flags-0"),
    pytest.param(b"", 0, id="empty-bytes-flags-0"),
]


@pytest.fixture
def foreign(memcached: Any) -> Any:
    """A plain pymemcache client on the same server, with no serializer: bytes as given."""
    host, port = memcached.address.rsplit(":", 1)
    client = Client((host, int(port)))
    yield client
    client.close()


def write_foreign(client: Client, key: str, data: bytes, flags: int) -> None:
    assert client.set(key, data, flags=flags, noreply=False)
    assert client.get(key) == data


def read_every_way(mc_client: MemcacheClient, foreign: Client, data: bytes, flags: int) -> None:
    ran: Counter[int] = Counter()

    @mc_client.cached(fresh_namespace("foreign"))
    def mine(x: int) -> Any:
        ran[x] += 1
        return [f"value of {x}", x] if x % 2 else f"text of {x}"

    @asynq()
    def together(xs: list[int]) -> Any:
        return (yield [mine.asynq(x) for x in xs])

    def expected(x: int) -> Any:
        return [f"value of {x}", x] if x % 2 else f"text of {x}"

    for x in range(4):
        write_foreign(foreign, mine.key(x), data, flags)
    results = {0: mine(0), 1: mine(1)}
    results.update(zip([2, 3, 4], together([2, 3, 4]), strict=True))
    for x, result in results.items():
        assert same(expected(x), result), f"f({x}) gave {shown(result)} over {data!r}/{flags}"
    # The foreign bytes were overwritten: a new request reads the body's value from memcached.
    ran.clear()
    assert [mine(x) for x in range(5)] == [expected(x) for x in range(5)]
    assert together(list(range(5))) == [expected(x) for x in range(5)]
    assert ran == Counter(), "the recomputed values were written back over the foreign bytes"


@pytest.mark.parametrize(("data", "flags"), UNDECODABLE)
def test_undecodable_bytes_under_a_cached_key_are_a_miss_that_is_recomputed(
    mc_client: MemcacheClient, foreign: Client, data: bytes, flags: int
) -> None:
    mc_client.stats.reset()
    read_every_way(mc_client, foreign, data, flags)
    assert mc_client.stats.errors >= 1, "an undecodable value counts in stats.errors"


@pytest.mark.parametrize(("data", "flags"), UNDECODABLE)
def test_undecodable_bytes_read_with_get_are_a_miss(
    mc_client: MemcacheClient, foreign: Client, data: bytes, flags: int
) -> None:
    write_foreign(foreign, "raw", data, flags)
    assert mc_client.get("raw") is None
    assert mc_client.get("raw", default="?") == "?"
    assert mc_client.get_many(["raw"]) == {}


@pytest.mark.parametrize(("data", "flags"), OTHER_CLIENTS_VALUES)
def test_another_clients_value_under_a_cached_key_is_not_returned_as_the_functions_value(
    mc_client: MemcacheClient, foreign: Client, data: bytes, flags: int
) -> None:
    read_every_way(mc_client, foreign, data, flags)


class _LeavesAMark:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (str(self.path), "w"))


def test_a_pickle_that_would_run_code_is_never_loaded(
    mc_client: MemcacheClient, foreign: Client, tmp_path: Path
) -> None:
    mark = tmp_path / "unpickled"
    payload = pickle.dumps(_LeavesAMark(mark))

    @mc_client.cached(fresh_namespace("pickle"))
    def mine(x: int) -> str:
        return f"value of {x}"

    for flags in (0, 1, 16, 256):
        write_foreign(foreign, mine.key(flags), payload, flags)
        write_foreign(foreign, f"raw{flags}", payload, flags)
        mine(flags)  # what it returns is checked above; here: whether the pickle was loaded
        mc_client.get(f"raw{flags}")
    assert not mark.exists(), "a foreign pickle was loaded, running code chosen by its writer"


@pytest.mark.parametrize(
    ("data", "flags", "value"),
    [
        pytest.param(b"text of 0", 16, "text of 0", id="pymemcache-text"),
        pytest.param(b"12", 2, 12, id="pymemcache-int"),
    ],
)
def test_a_legacy_clients_text_and_ints_under_a_cached_key_are_read_as_the_functions_value(
    mc_client: MemcacheClient, foreign: Client, data: bytes, flags: int, value: Any
) -> None:
    # docs/memcache.md: str and int keep pymemcache's flags "so either library reads the other's
    # values": during a migration, legacy code and asynq code fill the same keys.
    ran: Counter[int] = Counter()

    @mc_client.cached(fresh_namespace("legacy"))
    def mine(x: int) -> Any:
        ran[x] += 1
        return "computed"

    write_foreign(foreign, mine.key(0), data, flags)
    assert same(value, mine(0)), f"f(0) over {data!r}/{flags} gave {shown(mine(0))}"
    assert ran == Counter()

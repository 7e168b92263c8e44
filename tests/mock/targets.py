"""What the mock tests patch, by dotted path (``"mock.targets.<name>"``) or with patch.object.

The callers look their callees up through the module or the class at call time, as model code
does, so a patch is visible to them.
"""

from __future__ import annotations

from typing import Any

from asynq import ConstFuture, DebugBatchItem, FutureBase, async_proxy, asynq

SETTINGS: dict[str, Any] = {"mode": "prod", "retries": 3}


def double(x: int) -> int:
    return x * 2


def add(x: int, y: int = 1) -> int:
    return x + y


async def fetch_remote(x: int) -> int:
    return x


@asynq()
def fetch_name(uid: int) -> Any:
    """Pretend cache read: one batch item per call."""
    name = yield DebugBatchItem("names", f"name-{uid}")
    return name


@asynq()
def greeting(uid: int) -> Any:
    """Code under test: reads through ``fetch_name.asynq``."""
    name = yield fetch_name.asynq(uid)
    return f"hello {name}"


@async_proxy()
def proxied_name(uid: int) -> FutureBase[Any]:
    return fetch_name.asynq(uid)


@asynq()
def proxied_greeting(uid: int) -> Any:
    name = yield proxied_name.asynq(uid)
    return f"hi {name}"


@asynq(pure=True)
def pure_name(uid: int) -> Any:
    return f"pure-{uid}"
    yield  # pragma: no cover - makes this a generator


class Operation:
    """Like ``MemcacheClient.get``: an object whose ``.asynq`` is set on the instance."""

    def __init__(self) -> None:
        self.asynq = lambda key: ConstFuture(f"real {key}")

    def __call__(self, key: str) -> str:
        return f"real {key}"


operation = Operation()


class Base:
    inherited = "base value"


class Model(Base):
    """Plain and asynq methods of every kind."""

    label = "model"

    def __init__(self, ident: int = 0) -> None:
        self.ident = ident

    def plain(self, x: int) -> tuple[str, int]:
        return ("plain", x)

    @classmethod
    def plain_cls(cls, x: int) -> tuple[str, int]:
        return ("plain_cls", x)

    @staticmethod
    def plain_static(x: int) -> tuple[str, int]:
        return ("plain_static", x)

    @asynq()
    def load(self, x: int) -> Any:
        value = yield DebugBatchItem("models", ("load", self.ident, x))
        return value

    @asynq()
    @classmethod
    def load_cls(cls, x: int) -> Any:
        value = yield DebugBatchItem("models", ("load_cls", cls.__name__, x))
        return value

    @asynq()
    @staticmethod
    def load_static(x: int) -> Any:
        value = yield DebugBatchItem("models", ("load_static", x))
        return value

    @asynq()
    def describe(self, x: int) -> Any:
        """Code under test: reaches each kind of asynq method."""
        values = yield (
            self.load.asynq(x),
            type(self).load_cls.asynq(x),
            Model.load_static.asynq(x),
        )
        return values


def const(value: Any) -> ConstFuture[Any]:
    return ConstFuture(value)

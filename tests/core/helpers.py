"""Small batch types for tests: they record every flush so tests can assert exact keys."""

from __future__ import annotations

from typing import Any

from asynq import BatchBase, BatchItemBase


class RecordingBatch(BatchBase["KeyItem"]):
    """Resolves each item to ``value_of(key)``; appends ``(kind, [keys])`` to ``log`` per flush."""

    def __init__(self, kind: KeyKind) -> None:
        super().__init__()
        self.kind = kind

    def _try_switch_active_batch(self) -> None:
        if self.kind.active is self:
            self.kind.active = RecordingBatch(self.kind)

    def _start_flush(self) -> None:
        self.kind.log.append(("start", self.kind.name, [item.key for item in self.items]))

    def _flush(self) -> None:
        keys = [item.key for item in self.items]
        self.kind.flushes.append(keys)
        self.kind.log.append(("flush", self.kind.name, keys))
        if self.kind.fail_with is not None:
            raise self.kind.fail_with
        for item in self.items:
            item.set_value(self.kind.value_of(item.key))


class KeyKind:
    """One kind of batched backend (think: one memcache cluster)."""

    def __init__(self, name: str = "kv", log: list[Any] | None = None) -> None:
        self.name = name
        self.flushes: list[list[Any]] = []
        self.log: list[Any] = log if log is not None else []
        self.fail_with: Exception | None = None
        self.active = RecordingBatch(self)

    def value_of(self, key: Any) -> Any:
        return ("value", key)

    def get(self, key: Any) -> KeyItem:
        """A batch item for ``key`` in the active batch."""
        return KeyItem(self, key)


class KeyItem(BatchItemBase):
    def __init__(self, kind: KeyKind, key: Any) -> None:
        super().__init__(kind.active)
        self.key = key

"""A batched key-value backend for the observability tests: every flush is logged, so tests can
compare what the statistics and traces report with what really happened."""

from __future__ import annotations

from typing import Any

from asynq import BatchBase, BatchItemBase


class LoggedBatch(BatchBase["LoggedItem"]):
    """Resolves each item to ``("v", key)``; appends ``(name, [keys])`` to its store's log."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def _try_switch_active_batch(self) -> None:
        if self.store.active is self:
            self.store.active = self.store.batch_cls(self.store)

    def _flush(self) -> None:
        keys = [getattr(item, "key", None) for item in self.items]
        self.store.log.append((self.store.name, keys))
        if self.store.fail_with is not None:
            raise self.store.fail_with
        for item in self.items:
            item.set_value(("v", item.key))


class UsersBatch(LoggedBatch):
    """A second batch class, so that rounds can hold two kinds."""


class Store:
    """One batched backend; ``get(key)`` is a batch item in the active batch."""

    def __init__(
        self,
        name: str,
        log: list[tuple[str, list[Any]]],
        batch_cls: type[LoggedBatch] = LoggedBatch,
    ) -> None:
        self.name = name
        self.log = log
        self.batch_cls = batch_cls
        self.fail_with: Exception | None = None
        self.active: LoggedBatch = batch_cls(self)

    def get(self, key: Any) -> LoggedItem:
        return LoggedItem(self.active, key)


class LoggedItem(BatchItemBase):
    def __init__(self, batch: LoggedBatch, key: Any) -> None:
        super().__init__(batch)
        self.key = key


class PlainItem(BatchItemBase):
    """An item without a key (the statistics cannot count its distinct keys)."""


class MultiKeyItem(BatchItemBase):
    """An item that asks for several keys at once."""

    def __init__(self, batch: LoggedBatch, keys: list[Any]) -> None:
        super().__init__(batch)
        self.keys = keys


class Blog:
    """A scripted page: each post's author needs the post first, so two rounds. Round 1 reads
    the posts (one batch) and the viewer (a users batch); round 2 reads the authors."""

    def __init__(self) -> None:
        from asynq import asynq

        self.log: list[tuple[str, list[Any]]] = []
        self.posts = Store("posts", self.log)
        self.users = Store("users", self.log, UsersBatch)
        posts, users = self.posts, self.users

        @asynq()
        def author_name(post_id: int) -> Any:
            post = yield posts.get(post_id)
            name = yield users.get(("user", post[1] % 2))
            return name

        @asynq()
        def page(post_ids: list[int]) -> Any:
            viewer, names = yield users.get("viewer"), [author_name.asynq(p) for p in post_ids]
            return viewer, names

        self.author_name = author_name
        self.page = page

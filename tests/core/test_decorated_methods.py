"""asynq functions defined in class bodies: a synchronous twin given as a classmethod or staticmethod."""

from __future__ import annotations

from typing import Any

import pytest

import asynq


class Catalog:
    @classmethod
    def sync_kind(cls) -> tuple[str, type]:
        return ("sync", cls)

    @asynq.asynq(sync_fn=sync_kind)
    @classmethod
    def kind(cls) -> tuple[str, type]:
        return ("async", cls)

    @staticmethod
    def sync_version() -> str:
        return "sync"

    @asynq.asynq(sync_fn=sync_version)
    @staticmethod
    def version() -> str:
        return "async"

    @staticmethod
    def sync_answer() -> str:
        return "sync"

    @asynq.async_proxy(sync_fn=sync_answer)
    @staticmethod
    def answer() -> Any:
        return asynq.ConstFuture("async")


class Special(Catalog):
    pass


def test_a_classmethod_twin_is_called_with_the_class_on_a_synchronous_call() -> None:
    assert Catalog.kind() == ("sync", Catalog)
    assert Special().kind() == ("sync", Special)


def test_the_asynq_form_of_a_method_with_a_classmethod_twin_runs_the_body() -> None:
    assert Special.kind.asynq().value() == ("async", Special)


def test_a_staticmethod_twin_is_called_without_the_class() -> None:
    assert Catalog.version() == "sync"
    assert Catalog().version() == "sync"
    assert Catalog.version.asynq().value() == "async"


def test_an_async_proxy_accepts_a_staticmethod_twin() -> None:
    assert Catalog.answer() == "sync"
    assert Catalog.answer.asynq().value() == "async"


def test_a_twin_that_is_not_callable_is_refused_with_what_was_given() -> None:
    with pytest.raises(TypeError, match="^sync_fn must be callable, got int: 3$"):
        asynq.asynq(sync_fn=3)(lambda: None)  # type: ignore[arg-type]

"""Shared test set-up: every test starts with a clean scheduler and default debug switches."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import asynq
from asynq import debug

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _clean_scheduler() -> Iterator[None]:
    scheduler = asynq.get_scheduler()
    scheduler.reset()
    scheduler.shuffle(None)
    saved = dict(vars(debug.options))
    yield
    vars(debug.options).update(saved)
    assert scheduler.active_task is None, "a test left a task marked as running"
    scheduler.shuffle(None)
    scheduler.reset()

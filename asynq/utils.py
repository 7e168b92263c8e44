"""Small helpers shared by user code and the rest of the package."""

from __future__ import annotations

from typing import NoReturn

from .async_task import AsyncTaskResult

__all__ = ["result"]


def result(value: object) -> NoReturn:
    """Return ``value`` from an ``@asynq()`` generator, the legacy way (before ``return x`` was
    allowed in generators): ``result(x); return``."""
    raise AsyncTaskResult(value)

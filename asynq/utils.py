"""Small helpers shared by user code and the rest of the package."""

from __future__ import annotations

from typing import NoReturn

from .async_task import AsyncTaskResult
from .futures import FutureBase

__all__ = ["result"]


def result(value: object) -> NoReturn:
    """Return ``value`` from an ``@asynq()`` generator, the legacy way (before ``return x`` was
    allowed in generators): ``result(x); return``. Passing a future is a mistake
    (``AssertionError``): what it computes was meant, so yield it first."""
    if isinstance(value, FutureBase):
        raise AssertionError(
            f"result() was given a future, {value!r}, not a value; yield it first: "
            "`result((yield fut)); return`, or simply `return (yield fut)`"
        )
    raise AsyncTaskResult(value)

"""Running asynq work from asyncio code: ``f.asyncio(x)`` returns a coroutine."""

from __future__ import annotations

from typing import Any, TypeVar

from .futures import FutureBase

__all__ = ["resolve_in_asyncio"]

_T = TypeVar("_T")


async def resolve_in_asyncio(future: FutureBase[_T]) -> _T:
    """Compute ``future`` (a task or any future) for an ``await`` in asyncio code.

    The computation runs on the thread's asynq scheduler; its batches flush synchronously.
    """
    value: Any = future.value()
    return value

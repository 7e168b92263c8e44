"""asynq 1.6's module for running asynq code from asyncio, kept under its name.

The bridge itself lives in ``asynq.asyncio_interop`` (see there for how asynq work awaited from
asyncio is batched). This module offers the two names asynq 1.6 code imports from here:
``is_asyncio_mode()`` and ``resolve_awaitables(value)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from .asyncio_interop import is_asyncio_mode, resolve_in_asyncio
from .futures import FutureBase

__all__ = ["is_asyncio_mode", "resolve_awaitables"]


async def resolve_awaitables(value: Any) -> Any:
    """``value`` with every awaitable in it awaited: lists, tuples and dicts are walked (the
    result has the same shape), asynq futures are computed as ``await f.asyncio()`` would, and
    everything else is returned as it is. The awaitables of one value run concurrently."""
    cls = type(value)
    if cls is list or cls is tuple:
        items = await asyncio.gather(*(resolve_awaitables(item) for item in value))
        return list(items) if cls is list else tuple(items)
    if cls is dict:
        values = await asyncio.gather(*(resolve_awaitables(item) for item in value.values()))
        return dict(zip(value.keys(), values, strict=True))
    if isinstance(value, FutureBase):
        return await resolve_in_asyncio(value)
    if isinstance(value, Awaitable):
        return await value
    return value

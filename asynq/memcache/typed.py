"""What a type checker sees of an ``@mc.cached(...)`` function.

``mc.cached("ns")`` turns ``def name_of(uid: int) -> str`` into an object that type-checks as
``Cached[[int], str]``: ``name_of(1)`` is ``str``, ``name_of.asynq(1)`` is ``FutureBase[str]``
(a future to yield: a batch item, or a value already in the request's cache, so not necessarily
an ``AsyncTask``), ``await name_of.asyncio(1)`` is ``str``, and wrong arguments are errors. The
runtime object is a ``CachedFunction``; this protocol only describes it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, Protocol, TypeVar

from ..futures import FutureBase

__all__ = ["Cached"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Cached(Protocol[_P, _T]):
    """A cached model function taking ``_P`` and returning ``_T``."""

    __name__: str
    __qualname__: str
    namespace: str
    ttl: int
    fn: Callable[..., Any]
    client: Any

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Synchronous call: the request's cache, memcached, or the body."""
        ...

    def asynq(self, *args: _P.args, **kwargs: _P.kwargs) -> FutureBase[_T]:
        """The call as a future to ``yield`` from an ``@asynq()`` function."""
        ...

    def asyncio(self, *args: _P.args, **kwargs: _P.kwargs) -> Coroutine[Any, Any, _T]:
        """The call as a coroutine to ``await`` in asyncio code."""
        ...

    def key(self, *args: _P.args, **kwargs: _P.kwargs) -> str:
        """The full memcached key of the call."""
        ...

    def prime(self, *args: _P.args, **kwargs: _P.kwargs) -> None:
        """Record the call's key for legacy priming (no I/O)."""
        ...

    def dirty(self, *args: _P.args, **kwargs: _P.kwargs) -> bool:
        """Delete the call's cached value; whether memcached had it."""
        ...

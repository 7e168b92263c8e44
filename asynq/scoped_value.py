"""Values that can be overridden for the duration of a task's ``with`` block.

``AsyncScopedValue`` is the asynq counterpart of a context variable: ``with value.override(x):``
makes ``value()`` return ``x`` inside the block, including in tasks created there, and not in
tasks that run while the block's task is switched out. ``async_override(obj, "attr", x)`` does the
same for an attribute of any object.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from .contexts import AsyncContext

__all__ = ["AsyncScopedValue", "async_override"]

_T = TypeVar("_T")
_MISSING: Any = object()


class AsyncScopedValue(Generic[_T]):
    """A value with a default that ``override()`` replaces within a task-aware block."""

    def __init__(self, default: _T) -> None:
        self._value = default

    def get(self) -> _T:
        """The current value."""
        return self._value

    __call__ = get

    def set(self, value: _T) -> None:
        """Replace the value outright (not scoped; prefer ``override``)."""
        self._value = value

    def override(self, value: _T) -> _ScopedValueOverride[_T]:
        """A context manager that sets the value inside its block, following the task."""
        return _ScopedValueOverride(self, value)

    def __repr__(self) -> str:
        return f"AsyncScopedValue({self._value!r})"

    def __str__(self) -> str:
        return f"AsyncScopedValue({self._value})"


class _ScopedValueOverride(AsyncContext, Generic[_T]):
    def __init__(self, target: AsyncScopedValue[_T], value: _T) -> None:
        self._target = target
        self._value = value
        self._saved: Any = _MISSING

    def resume(self) -> None:
        self._saved = self._target._value
        self._target._value = self._value

    def pause(self) -> None:
        self._target._value = self._saved
        self._saved = _MISSING


class async_override(AsyncContext):  # noqa: N801 - the public name is lower case
    """Set ``target.<property_name>`` to ``value`` inside a task-aware ``with`` block."""

    def __init__(self, target: Any, property_name: str, value: Any) -> None:
        self._target = target
        self._name = property_name
        self._value = value
        self._saved: Any = _MISSING

    def resume(self) -> None:
        self._saved = getattr(self._target, self._name)
        setattr(self._target, self._name, self._value)

    def pause(self) -> None:
        setattr(self._target, self._name, self._saved)
        self._saved = _MISSING

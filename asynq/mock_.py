"""``unittest.mock`` for code that calls asynq functions (public name: ``asynq.mock``).

``from asynq import mock`` is a drop-in for ``from unittest import mock``: every name of
``unittest.mock`` is here, and ``patch``, ``patch.object``, ``patch.dict``, ``patch.multiple`` and
``patch.stopall`` take the same arguments and behave the same way, with these additions:

- When the patched attribute is an asynq function (``@asynq()``, ``@async_proxy()``, a method,
  classmethod or staticmethod of either), the mock that replaces it also answers ``.asynq(...)``
  and ``.asyncio(...)``. Both call the mock itself, so sync and async calls are recorded together
  (``assert_called_once_with`` counts both), and return a future (or coroutine) of its result; an
  exception from ``side_effect`` surfaces where the future is yielded (or awaited). Configure the
  mock, not its ``.asynq``: setting an attribute on ``.asynq`` raises ``AttributeError``.
- A mock that replaces a class answers ``.asynq`` / ``.asyncio`` on the children named after the
  class's asynq methods, on the class mock and on its instances (``return_value``).
- ``autospec=True`` on an asynq function checks calls against the function's signature, binds
  like the original (``self`` is recorded for methods patched on a class, as with plain methods)
  and answers ``.asynq`` / ``.asyncio`` as above.
- ``new=`` a plain (or generator) function replacing an asynq function is made an ``@asynq()``
  function, so the code under test can call it both ways.
- A patch entered with ``with`` inside a running asynq task is *task-scoped*: it is undone while
  that task is switched out, so sibling tasks never see it, and re-applied when the task resumes.
  Tasks created inside the block inherit it (the rule of ``asynq.contexts.AsyncContext``).
  Outside any task a patch is global, exactly like ``unittest.mock.patch``. ``start()`` is always
  global.
- As a decorator, a patch also works on generator functions (the patch spans the generator's
  whole run, task-scoped when a task drives it) and on asynq functions (the result is still an
  asynq function). ``patch.stopall()`` stops the patches started through this module.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import inspect
import pkgutil
import sys
import types
import unittest.mock as _um
from collections.abc import Callable
from typing import Any, Literal, NoReturn
from unittest.mock import (
    ANY,
    DEFAULT,
    FILTER_DIR,
    AsyncMock,
    MagicMock,
    Mock,
    NonCallableMagicMock,
    NonCallableMock,
    PropertyMock,
    call,
    create_autospec,
    mock_open,
    seal,
    sentinel,
)

from .contexts import AsyncContext, enter_context, leave_context
from .decorators import AsyncDecoratorBinder, PureAsyncDecorator, asynq, has_async_fn
from .futures import ConstFuture, ErrorFuture
from .lowlevel import context_task
from .scheduler import get_active_task

InvalidSpecError = _um.InvalidSpecError  # type: ignore[attr-defined]

__all__ = [
    "patch",
    "MockFormAttributeError",
    "Mock",
    "MagicMock",
    "NonCallableMock",
    "NonCallableMagicMock",
    "AsyncMock",
    "PropertyMock",
    "sentinel",
    "DEFAULT",
    "ANY",
    "call",
    "create_autospec",
    "FILTER_DIR",
    "mock_open",
    "seal",
    "InvalidSpecError",
]

_builtin_dict = dict
_builtin_object = object

# Names that ``patch`` may create on a module without create=True (unittest.mock's rule: a module
# can use a builtin it does not define, and tests patch it there).
_BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))
# Attributes that must be written back even when deleting the patch leaves a value reachable.
_WRITE_BACK = frozenset(
    ("__doc__", "__module__", "__defaults__", "__annotations__", "__kwdefaults__")
)
_SPEC_TYPOS = ("autospect", "auto_spec", "set_spec")


def __getattr__(name: str) -> Any:
    """Anything else ``unittest.mock`` offers publicly (``ThreadingMock`` on newer Pythons...)."""
    if not name.startswith("_") and hasattr(_um, name):
        return getattr(_um, name)
    raise AttributeError(f"module 'asynq.mock' has no attribute {name!r}")


# -- what counts as a mock, an asynq function ---------------------------------------------------


def _is_mock(obj: object) -> bool:
    # type(), not isinstance(): a mock with a spec pretends that its __class__ is the spec's.
    return issubclass(type(obj), NonCallableMock)


def _is_async_obj(obj: object) -> bool:
    """Whether unittest.mock would make an ``AsyncMock`` for ``obj`` (an ``async def``)."""
    if _is_mock(obj) and not isinstance(obj, AsyncMock):
        return False
    obj = getattr(obj, "__func__", obj)
    return inspect.iscoroutinefunction(obj) or inspect.isawaitable(obj)


def _is_asynq_function(obj: object) -> bool:
    """Whether code may call ``obj.asynq(...)``: an asynq function, or a mock that replaced one."""
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, _AsynqAutospec):
        return True
    if _is_mock(obj):
        return isinstance(vars(obj).get("asynq"), _AsyncForm)
    # Look at the type and the instance dict only: every patch asks this of what it replaces, and
    # asking an instance for .asynq would wake lazy proxies (settings objects) via __getattr__.
    try:
        own = vars(obj)
    except TypeError:
        own = {}
    if callable(getattr(type(obj), "asynq", None)) or callable(own.get("asynq")):
        return has_async_fn(obj)
    return False


def _describe(target: object) -> str:
    if isinstance(target, types.ModuleType):
        return target.__name__
    if isinstance(target, type):
        return target.__qualname__
    return f"<{type(target).__name__} object>"


# -- .asynq and .asyncio of a mock --------------------------------------------------------------


class MockFormAttributeError(AttributeError, TypeError):
    """Setting or deleting an attribute on ``.asynq``/``.asyncio`` of a patched function: they
    have none of their own (configure the mock). A ``TypeError`` too, as asynq 1.6 raised."""


class _AsyncForm:
    """The ``.asynq`` (or ``.asyncio``) of a mock that replaced an asynq function.

    Calling it calls the mock, which records the call, and returns a future (or coroutine) of the
    result; an exception from the mock becomes the future's error. It has no state of its own.
    """

    __slots__ = ("_call", "_form", "_label")

    def __init__(self, call: Callable[..., Any], form: str, label: str) -> None:
        _builtin_object.__setattr__(self, "_call", call)
        _builtin_object.__setattr__(self, "_form", form)
        _builtin_object.__setattr__(self, "_label", label)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        value: Any
        try:
            value = self._call(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - surfaces where the future is yielded
            if self._form == "asyncio":
                return _failed(error)
            return ErrorFuture(error)
        if self._form == "asyncio":
            return _succeeded(value)
        return ConstFuture(value)

    def _what(self) -> str:
        wrapped = "a future" if self._form == "asynq" else "a coroutine"
        return (
            f".{self._form}(...) of a mock calls the mock itself and wraps its result in {wrapped}"
        )

    def _where(self) -> str:
        return f"mock is what patch() returned (the object now at {self._label})"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise MockFormAttributeError(
            f"cannot set {name!r} on {self._label}.{self._form}: {self._what()}, so set it on "
            f"the mock instead: `mock.{name} = ...` where {self._where()}"
        )

    def __delattr__(self, name: str) -> NoReturn:
        raise MockFormAttributeError(
            f"cannot delete {name!r} from {self._label}.{self._form}: {self._what()} and has "
            f"no attributes of its own; configure the mock instead, where {self._where()}"
        )

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{self._label}.{self._form} has no attribute {name!r}: {self._what()}, so calls "
            f"are recorded on the mock, sync and async together; use `mock.{name}` where "
            f"{self._where()}"
        )

    def __repr__(self) -> str:
        return f"<.{self._form} of the mock replacing {self._label}>"


async def _succeeded(value: Any) -> Any:
    return value


async def _failed(error: BaseException) -> NoReturn:
    raise error


def _give_async_forms(mock: Any, label: str) -> None:
    # object.__setattr__: a spec_set mock refuses names its spec lacks, and a plain setattr of a
    # callable would not stay what we put there.
    _builtin_object.__setattr__(mock, "asynq", _AsyncForm(mock, "asynq", label))
    _builtin_object.__setattr__(mock, "asyncio", _AsyncForm(mock, "asyncio", label))


def _give_class_async_forms(mock: Any, cls: type, label: str) -> None:
    """A mock that replaced a class: its children named after the class's asynq methods (on the
    class mock and on its instances, the return value) answer ``.asynq`` too."""
    names = [
        name
        for name in dir(cls)
        if not name.startswith("__") and _is_asynq_function(inspect.getattr_static(cls, name, None))
    ]
    if not names:
        return
    holders = [mock]
    if callable(mock) and _is_mock(mock.return_value):
        holders.append(mock.return_value)
    for holder in holders:
        for name in names:
            child = getattr(holder, name, None)
            if _is_mock(child) and callable(child) and not isinstance(child, AsyncMock):
                _give_async_forms(child, f"{label}.{name}")


def _has_async_forms(mock: Any) -> bool:
    """Whether the user already gave this mock an ``.asynq`` (then it is theirs to keep)."""
    own = vars(mock)
    return "asynq" in own or "asynq" in own.get("_mock_children", {})


# -- autospec of an asynq function --------------------------------------------------------------


class _AsynqAutospec:
    """What ``autospec=True`` puts in place of an asynq function.

    Wraps the signature-checking function that ``create_autospec`` made from the asynq function's
    body: calls, attribute reads and writes go to it (so ``assert_called_once_with``,
    ``return_value``, ``side_effect`` work as with any autospec), and ``.asynq`` / ``.asyncio``
    call it too. On a class it binds the instance like the method it replaced, when that was a
    plain method; classmethods and staticmethods do not bind, as with ``unittest.mock``.
    """

    __slots__ = ("_checked", "_binds", "_label", "asynq", "asyncio")

    def __init__(self, checked: Callable[..., Any], binds: bool, label: str) -> None:
        _builtin_object.__setattr__(self, "_checked", checked)
        _builtin_object.__setattr__(self, "_binds", binds)
        _builtin_object.__setattr__(self, "_label", label)
        _builtin_object.__setattr__(self, "asynq", _AsyncForm(checked, "asynq", label))
        _builtin_object.__setattr__(self, "asyncio", _AsyncForm(checked, "asyncio", label))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._checked(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._checked, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._checked, name, value)

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None or not self._binds:
            return self
        return _BoundAsynqAutospec(self, instance)

    def __repr__(self) -> str:
        return f"<autospec mock of asynq function {self._label}>"


class _BoundAsynqAutospec:
    """``obj.method`` for an autospecced asynq method: the instance goes first in every call."""

    __slots__ = ("_spec", "_instance", "asynq", "asyncio")

    def __init__(self, spec: _AsynqAutospec, instance: object) -> None:
        bound = functools.partial(spec._checked, instance)
        _builtin_object.__setattr__(self, "_spec", spec)
        _builtin_object.__setattr__(self, "_instance", instance)
        _builtin_object.__setattr__(self, "asynq", _AsyncForm(bound, "asynq", spec._label))
        _builtin_object.__setattr__(self, "asyncio", _AsyncForm(bound, "asyncio", spec._label))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._spec._checked(self._instance, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spec._checked, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._spec._checked, name, value)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _BoundAsynqAutospec)
            and other._spec is self._spec
            and other._instance is self._instance
        )

    def __hash__(self) -> int:
        return hash((id(self._spec), id(self._instance)))

    def __repr__(self) -> str:
        return f"<bound autospec mock of asynq function {self._spec._label}>"


def _asynq_signature(spec: object, target: object) -> tuple[Callable[..., Any], bool] | None:
    """For an asynq function: the plain function to take the signature from, and whether the
    replacement should bind like a method. None for anything else."""
    kind: type | None = None
    if isinstance(spec, (classmethod, staticmethod)):
        kind = type(spec)
        spec = spec.__func__
    if isinstance(spec, AsyncDecoratorBinder):
        decorator: Any = spec.decorator
        fn = decorator.fn
        if spec.instance is not None:
            return types.MethodType(fn, spec.instance), False
        return fn, True
    if isinstance(spec, PureAsyncDecorator) and has_async_fn(spec):
        fn = spec.fn
        kind = kind or spec.type
        if kind is not None and issubclass(kind, classmethod):
            owner = target if isinstance(target, type) else type(target)
            return types.MethodType(fn, owner), False
        return fn, kind is not staticmethod
    if kind is None and not isinstance(spec, type) and has_async_fn(spec):
        # Another asynq callable that wraps a plain function (an @mc.cached function): the
        # signature is the wrapped function's, through any @asynq() under it.
        wrapped = getattr(spec, "__wrapped__", None)
        wrapped = getattr(wrapped, "fn", wrapped)
        if inspect.isfunction(wrapped):
            return wrapped, True
    return None


# -- creating the replacement -------------------------------------------------------------------


def _lookup(target: object, name: str) -> tuple[Any, bool]:
    """The attribute as stored on ``target`` if it is its own (then True), else as inherited."""
    try:
        return vars(target)[name], True
    except (TypeError, KeyError):
        return getattr(target, name, DEFAULT), False


def _spec_is_callable(spec: object) -> bool:
    if type(spec) in (list, tuple):
        return "__call__" in spec  # type: ignore[operator]
    return callable(spec)


def _instances_callable(spec: object) -> bool:
    if not isinstance(spec, type):
        return getattr(spec, "__call__", None) is not None  # noqa: B004 - mirrors unittest.mock
    return any(vars(base).get("__call__") is not None for base in spec.__mro__)


def _new_mock(patcher: _Patcher, original: Any, spec: Any, spec_set: Any) -> Any:
    """The mock ``patch`` makes when no ``new`` and no ``autospec`` is given."""
    if spec is True:
        spec, spec_set = (None, original) if spec_set is True else (original, spec_set)
    elif spec is not None:
        if spec_set is True:
            spec, spec_set = None, spec
    elif spec_set is True:
        spec_set = original
    the_spec = spec_set if spec_set is not None else spec
    if the_spec is not None and original is DEFAULT:
        raise TypeError(
            "Can't use 'spec' with create=True: the attribute does not exist, so there is "
            "nothing to take the spec from; pass spec=<an object> or drop create=True"
        )

    factory: Any = AsyncMock if spec is None and _is_async_obj(original) else MagicMock
    if patcher.new_callable is not None:
        factory = patcher.new_callable
    elif the_spec is not None:
        if _is_async_obj(the_spec):
            factory = AsyncMock
        elif not _spec_is_callable(the_spec):
            factory = NonCallableMagicMock

    options: dict[str, Any] = {}
    if spec is not None:
        options["spec"] = spec
    if spec_set is not None:
        options["spec_set"] = spec_set
    if isinstance(factory, type) and issubclass(factory, NonCallableMock) and patcher.attribute:
        options["name"] = patcher.attribute
    options.update(patcher.kwargs)
    new = factory(**options)

    if the_spec is not None and isinstance(original, type) and _is_mock(new):
        # Replacing a class with a spec: its "instances" (the return value) get the spec too.
        if type(the_spec) not in (list, tuple) and not _instances_callable(the_spec):
            factory = NonCallableMagicMock
        options.pop("name", None)
        new.return_value = factory(_new_parent=new, _new_name="()", **options)
    return new


def _new_autospec(patcher: _Patcher, target: object, original: Any, spec_set: Any) -> Any:
    """The mock ``patch(..., autospec=...)`` makes."""
    attribute = patcher.attribute
    autospec = patcher.autospec
    if patcher.new is not DEFAULT:
        raise TypeError(
            "autospec creates the mock for you. Can't specify autospec and new. "
            "Drop new=, or drop autospec= and pass new=create_autospec(...) yourself"
        )
    if original is DEFAULT:
        raise TypeError(
            "Can't use 'autospec' with create=True: the attribute does not exist, so there is "
            "nothing to take the spec from; pass autospec=<an object> or drop create=True"
        )
    if autospec is True:
        autospec = original
    if _is_mock(target):
        raise InvalidSpecError(
            f"Cannot autospec attr {attribute!r} as the patch target has already been mocked "
            f"out. [target={target!r}, attr={autospec!r}]"
        )
    if _is_mock(autospec):
        target_name = getattr(target, "__name__", target)
        raise InvalidSpecError(
            f"Cannot autospec attr {attribute!r} from target {target_name!r} as it has already "
            f"been mocked out. [target={target!r}, attr={autospec!r}]"
        )
    signature = _asynq_signature(autospec, target)
    if signature is not None:
        source, binds = signature
        checked = create_autospec(
            source, spec_set=bool(spec_set), _name=attribute, **patcher.kwargs
        )
        return _AsynqAutospec(checked, binds, f"{_describe(target)}.{attribute}")
    return create_autospec(autospec, spec_set=bool(spec_set), _name=attribute, **patcher.kwargs)


def _ready_for_asynq(new: Any, label: str) -> Any:
    """Make ``new`` answer ``.asynq`` / ``.asyncio``, as the asynq function it replaces did."""
    if isinstance(new, _AsynqAutospec):
        return new
    if _is_mock(new):
        if callable(new) and not isinstance(new, AsyncMock) and not _has_async_forms(new):
            _give_async_forms(new, label)
        return new
    fn = new.__func__ if isinstance(new, (classmethod, staticmethod)) else new
    if not inspect.isfunction(fn) or has_async_fn(fn):
        return new
    if _is_mock(getattr(fn, "mock", None)):  # a function made by create_autospec
        return _AsynqAutospec(fn, True, label) if new is fn else new
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        return new
    return asynq()(new)


def _replacement(patcher: _Patcher, target: object) -> tuple[Any, bool]:
    """What to put at the patched attribute, and whether the patch creates the attribute."""
    spec = None if patcher.spec is False else patcher.spec
    spec_set = None if patcher.spec_set is False else patcher.spec_set
    autospec = None if patcher.autospec is False else patcher.autospec
    if spec is not None and autospec is not None:
        raise TypeError(
            "Can't specify spec and autospec: autospec already takes the spec from its "
            "argument (or the original); drop spec="
        )
    if (spec is not None or autospec is not None) and spec_set not in (True, None):
        raise TypeError(
            "Can't provide explicit spec_set *and* spec or autospec: with spec or autospec, "
            "spec_set may only be True (use the same object) or None"
        )
    attribute = patcher.attribute
    create = patcher.create or (
        attribute in _BUILTIN_NAMES and isinstance(target, types.ModuleType)
    )
    original, _own = _lookup(target, attribute)
    if original is DEFAULT and not create:
        raise AttributeError(f"{target} does not have the attribute {attribute!r}")

    if patcher.new is DEFAULT and autospec is None:
        new = _new_mock(patcher, original, spec, spec_set)
    elif autospec is not None:
        new = _new_autospec(patcher, target, original, spec_set)
    elif patcher.kwargs:
        raise TypeError(
            "Can't pass kwargs to a mock we aren't creating: with new=, configure the object "
            f"yourself (got {sorted(patcher.kwargs)})"
        )
    else:
        new = patcher.new
    label = f"{_describe(target)}.{attribute}"
    if _is_asynq_function(original):
        new = _ready_for_asynq(new, label)
    elif patcher.new is DEFAULT and _is_mock(new):
        spec_class = autospec if isinstance(autospec, type) else original
        if isinstance(spec_class, type):
            _give_class_async_forms(new, spec_class, label)
    return new, create


# -- applying and undoing -----------------------------------------------------------------------


class _Applied(AsyncContext):
    """One entry of a patcher: the replacement it made, and what it replaced while applied.

    ``resume()`` puts the replacement in place, ``pause()`` puts back what was there. A patch
    entered inside a task is attached to the task, and the scheduler pauses and resumes it on every
    switch; each resume looks at the attribute afresh, so patches of other tasks, nested or not,
    are undone in the right order.
    """

    def __init__(
        self, target: object, attribute: str, new: Any, create: bool, children: list[_Applied]
    ) -> None:
        self.target = target
        self.attribute = attribute
        self.new = new
        self.create = create
        self.children = children
        self._saved: tuple[Any, bool] | None = None

    def resume(self) -> None:
        if self._saved is not None:
            return
        saved = _lookup(self.target, self.attribute)
        setattr(self.target, self.attribute, self.new)
        self._saved = saved
        for position, child in enumerate(self.children):
            try:
                child.resume()
            except BaseException:
                for done in reversed(self.children[:position]):
                    done.pause()
                self._undo()
                raise

    def pause(self) -> None:
        if self._saved is None:
            return
        for child in reversed(self.children):
            child.pause()
        self._undo()

    def _undo(self) -> None:
        saved = self._saved
        if saved is None:
            return
        self._saved = None
        original, own = saved
        if own and original is not DEFAULT:
            setattr(self.target, self.attribute, original)
            return
        with contextlib.suppress(AttributeError):
            delattr(self.target, self.attribute)
        if (
            not self.create
            and original is not DEFAULT
            and (not hasattr(self.target, self.attribute) or self.attribute in _WRITE_BACK)
        ):
            # Objects that proxy their attributes (django settings) lose them on delattr.
            setattr(self.target, self.attribute, original)


_started: list[tuple[Any, Any]] = []  # (patcher, what start() applied), in start order


def _take_entered(entered: list[Any]) -> Any:
    """The entry to exit: the latest one made in the running task (else the latest)."""
    task = get_active_task()
    for position in range(len(entered) - 1, -1, -1):
        if context_task(entered[position]) is task:
            return entered.pop(position)
    return entered.pop() if entered else None


# -- the patchers -------------------------------------------------------------------------------


class _Patcher:
    """What ``patch()``, ``patch.object()`` and ``patch.multiple()`` return: a decorator, a
    context manager and a ``start()``/``stop()`` pair, like ``unittest.mock``'s."""

    attribute_name: str | None = None

    def __init__(
        self,
        getter: Callable[[], Any],
        attribute: str,
        new: Any,
        spec: Any,
        create: bool,
        spec_set: Any,
        autospec: Any,
        new_callable: Any,
        kwargs: dict[str, Any],
        *,
        unsafe: bool = False,
        label: str = "",
    ) -> None:
        if new_callable is not None:
            if new is not DEFAULT:
                raise ValueError(
                    "Cannot use 'new' and 'new_callable' together: new= is the replacement "
                    "itself, new_callable= makes it; pass one"
                )
            if autospec is not None:
                raise ValueError(
                    "Cannot use 'autospec' and 'new_callable' together: autospec makes the mock "
                    "itself; pass one"
                )
        if not unsafe:
            for typo in _SPEC_TYPOS:
                if typo in kwargs:
                    raise RuntimeError(
                        f"{typo!r} might be a typo; use unsafe=True if this is intended "
                        "(did you mean autospec= or spec_set=?)"
                    )
        if _is_mock(spec):
            raise InvalidSpecError(
                f"Cannot spec attr {attribute!r} as the spec has already been mocked out. "
                f"[spec={spec!r}]"
            )
        if _is_mock(spec_set):
            raise InvalidSpecError(
                f"Cannot spec attr {attribute!r} as the spec_set target has already been mocked "
                f"out. [spec_set={spec_set!r}]"
            )
        self.getter = getter
        self.attribute = attribute
        self.new = new
        self.spec = spec
        self.create = create
        self.spec_set = spec_set
        self.autospec = autospec
        self.new_callable = new_callable
        self.kwargs = kwargs
        self.additional_patchers: list[_Patcher] = []
        self._label = label or attribute
        self._entered: list[_Applied] = []

    def copy(self) -> _Patcher:
        """A patcher with the same arguments (for decorating each method of a class)."""
        twin = _Patcher(
            self.getter,
            self.attribute,
            self.new,
            self.spec,
            self.create,
            self.spec_set,
            self.autospec,
            self.new_callable,
            self.kwargs,
            unsafe=True,
            label=self._label,
        )
        twin.attribute_name = self.attribute_name
        twin.additional_patchers = [p.copy() for p in self.additional_patchers]
        return twin

    def __repr__(self) -> str:
        return f"<asynq.mock patcher of {self._label}>"

    def __call__(self, func: Any) -> Any:
        if isinstance(func, type):
            return _decorate_class(func, self.copy)
        if hasattr(func, "patchings"):
            func.patchings.append(self)
            return func
        patchings: list[Any] = [self]
        wrapper = _wrap(func, functools.partial(_enter_patchings, patchings))
        wrapper.patchings = patchings
        return wrapper

    def _prepare(self) -> tuple[_Applied, Any]:
        target = self.getter()
        new, create = _replacement(self, target)
        children = []
        result: Any = new
        if self.attribute_name is not None:
            result = {self.attribute_name: new} if self.new is DEFAULT else {}
        for other in self.additional_patchers:
            child, child_result = other._prepare()
            children.append(child)
            if other.new is DEFAULT:
                result.update(child_result)
        return _Applied(target, self.attribute, new, create, children), result

    def __enter__(self) -> Any:
        """Apply the patch; inside a running asynq task, only for that task."""
        applied, result = self._prepare()
        try:
            enter_context(applied)
        except BaseException:
            leave_context(applied)
            raise
        self._entered.append(applied)
        return result

    def __exit__(self, *exc_info: object) -> Literal[False]:
        """Undo the patch."""
        applied = _take_entered(self._entered)
        if applied is None:
            raise RuntimeError(
                f"{self!r} was exited but never entered; use it as `with patch(...):` "
                "or call start() and stop()"
            )
        leave_context(applied)
        return False

    def start(self) -> Any:
        """Apply the patch for everyone until ``stop()``, returning any created mock."""
        applied, result = self._prepare()
        applied.resume()
        _started.append((self, applied))
        return result

    def stop(self) -> Literal[False] | None:
        """Undo what the latest ``start()`` of this patcher did; None if it was not started."""
        for position in range(len(_started) - 1, -1, -1):
            patcher, applied = _started[position]
            if patcher is self:
                del _started[position]
                applied.pause()
                return False
        return None


class _AppliedDict(AsyncContext):
    """One entry of ``patch.dict``. Paused, the dictionary shows the outside contents; resumed,
    the contents the patching task last saw (first: the original plus the patch's values)."""

    def __init__(self, in_dict: Any, values: dict[Any, Any], clear: bool) -> None:
        self.in_dict = in_dict
        self.values = values
        self.clear = clear
        self._outside: dict[Any, Any] | None = None
        self._inside: dict[Any, Any] | None = None

    def resume(self) -> None:
        if self._outside is not None:
            return
        self._outside = _snapshot(self.in_dict)
        if self._inside is not None:
            _restore(self.in_dict, self._inside)
            return
        if self.clear:
            _clear(self.in_dict)
        _update(self.in_dict, self.values)

    def pause(self) -> None:
        outside = self._outside
        if outside is None:
            return
        self._outside = None
        self._inside = _snapshot(self.in_dict)
        _restore(self.in_dict, outside)


def _snapshot(in_dict: Any) -> dict[Any, Any]:
    try:
        return _builtin_dict(in_dict.copy())
    except AttributeError:  # a mapping without copy(): iterate its keys
        return {key: in_dict[key] for key in in_dict}


def _clear(in_dict: Any) -> None:
    try:
        in_dict.clear()
    except AttributeError:
        for key in list(in_dict):
            del in_dict[key]


def _update(in_dict: Any, values: dict[Any, Any]) -> None:
    try:
        in_dict.update(values)
    except AttributeError:
        for key in values:
            in_dict[key] = values[key]


def _restore(in_dict: Any, contents: dict[Any, Any]) -> None:
    _clear(in_dict)
    _update(in_dict, contents)


class _DictPatcher:
    """``patch.dict(in_dict, values=(), clear=False, **kwargs)``: set items of a dictionary (or
    a dictionary named by a dotted string) and restore its contents afterwards."""

    def __init__(self, in_dict: Any, values: Any = (), clear: bool = False, **kwargs: Any) -> None:
        self.in_dict = in_dict
        self.values = _builtin_dict(values)
        self.values.update(kwargs)
        self.clear = clear
        self._entered: list[_AppliedDict] = []

    def __repr__(self) -> str:
        name = self.in_dict if isinstance(self.in_dict, str) else type(self.in_dict).__name__
        return f"<asynq.mock patch.dict of {name}>"

    def __call__(self, func: Any) -> Any:
        if isinstance(func, type):
            return _decorate_class(
                func, lambda: _DictPatcher(self.in_dict, self.values, self.clear)
            )
        return _wrap(func, self._enter_for_call)

    def _enter_for_call(
        self, stack: contextlib.ExitStack, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        stack.enter_context(self)
        return args, kwargs

    def _prepare(self) -> _AppliedDict:
        if isinstance(self.in_dict, str):
            self.in_dict = _resolve_dotted(self.in_dict)
        return _AppliedDict(self.in_dict, self.values, self.clear)

    def __enter__(self) -> Any:
        """Patch the dictionary; inside a running asynq task, only for that task."""
        applied = self._prepare()
        try:
            enter_context(applied)
        except BaseException:
            leave_context(applied)
            raise
        self._entered.append(applied)
        return self.in_dict

    def __exit__(self, *exc_info: object) -> Literal[False]:
        """Restore the dictionary (a no-op if it was never entered, as in unittest.mock)."""
        applied = _take_entered(self._entered)
        if applied is not None:
            leave_context(applied)
        return False

    def start(self) -> Any:
        """Patch the dictionary for everyone until ``stop()``; returns the dictionary."""
        applied = self._prepare()
        applied.resume()
        _started.append((self, applied))
        return self.in_dict

    def stop(self) -> Literal[False] | None:
        """Undo the latest ``start()``; None if it was not started."""
        for position in range(len(_started) - 1, -1, -1):
            patcher, applied = _started[position]
            if patcher is self:
                del _started[position]
                applied.pause()
                return False
        return None


# -- decorating ---------------------------------------------------------------------------------

_Prepare = Callable[
    [contextlib.ExitStack, tuple[Any, ...], _builtin_dict[str, Any]],
    tuple[tuple[Any, ...], _builtin_dict[str, Any]],
]


def _enter_patchings(
    patchings: list[Any],
    stack: contextlib.ExitStack,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Enter every patching of a decorated function; created mocks become extra arguments
    (positional, in decorator order from the bottom up; by name for ``patch.multiple``)."""
    extra = []
    for patching in patchings:
        result = stack.enter_context(patching)
        if patching.attribute_name is not None:
            kwargs.update(result)
        elif patching.new is DEFAULT:
            extra.append(result)
    return args + tuple(extra), kwargs


def _wrap(func: Any, prepare: _Prepare) -> Any:
    """``func`` with ``prepare`` entered around each call (each run, for generators)."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def patched_coroutine(*args: Any, **kwargs: Any) -> Any:
            with contextlib.ExitStack() as stack:
                args, kwargs = prepare(stack, args, kwargs)
                return await func(*args, **kwargs)

        return patched_coroutine

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def patched_generator(*args: Any, **kwargs: Any) -> Any:
            with contextlib.ExitStack() as stack:
                args, kwargs = prepare(stack, args, kwargs)
                return (yield from func(*args, **kwargs))

        return patched_generator

    if _is_asynq_function(func) and not isinstance(func, type):

        def patched_task(*args: Any, **kwargs: Any) -> Any:
            with contextlib.ExitStack() as stack:
                args, kwargs = prepare(stack, args, kwargs)
                result = yield func.asynq(*args, **kwargs)
            return result

        functools.update_wrapper(patched_task, func, updated=())
        return asynq()(patched_task)

    @functools.wraps(func)
    def patched(*args: Any, **kwargs: Any) -> Any:
        with contextlib.ExitStack() as stack:
            args, kwargs = prepare(stack, args, kwargs)
            return func(*args, **kwargs)

    return patched


def _decorate_class(klass: type, make: Callable[[], Any]) -> type:
    """Decorate each method whose name starts with ``patch.TEST_PREFIX`` with its own patcher."""
    for name in dir(klass):
        if not name.startswith(patch.TEST_PREFIX):
            continue
        value = getattr(klass, name)
        if not hasattr(value, "__call__"):  # noqa: B004 - mirrors unittest.mock
            continue
        setattr(klass, name, make()(value))
    return klass


# -- the public entry point ---------------------------------------------------------------------


def _import_part_by_part(path: str) -> Any:
    """The object at dotted ``path``, importing each prefix that is not an attribute of the one
    before: how Python 3.10's unittest.mock finds a target (a missing module raises
    ModuleNotFoundError there, an AttributeError from 3.11 on)."""
    parts = path.split(".")
    found: Any = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=2):
        try:
            found = getattr(found, part)
        except AttributeError:
            importlib.import_module(".".join(parts[:i]))
            found = getattr(found, part)
    return found


# Targets resolve as the running Python's unittest.mock resolves them.
_resolve_dotted: Callable[[str], Any] = (
    pkgutil.resolve_name if sys.version_info >= (3, 11) else _import_part_by_part
)


def _target_getter(target: Any) -> tuple[Callable[[], Any], str]:
    try:
        module, attribute = target.rsplit(".", 1)
    except (TypeError, ValueError, AttributeError):
        raise TypeError(
            f"Need a valid target to patch. You supplied: {target!r}; write the dotted path "
            "'package.module.name', or use patch.object(obj, 'name') for an object you hold"
        ) from None
    return functools.partial(_resolve_dotted, module), attribute


class _Patch:
    """``patch``: same signature and behaviour as ``unittest.mock.patch``, plus asynq support
    (see the module docstring). ``patch.object``, ``patch.dict``, ``patch.multiple``,
    ``patch.stopall`` and ``patch.TEST_PREFIX`` are here too."""

    TEST_PREFIX = "test"
    dict = _DictPatcher

    def __call__(
        self,
        target: str,
        new: Any = DEFAULT,
        spec: Any = None,
        create: bool = False,
        spec_set: Any = None,
        autospec: Any = None,
        new_callable: Any = None,
        *,
        unsafe: bool = False,
        **kwargs: Any,
    ) -> _Patcher:
        """Patch the object named by the dotted path ``target`` (imported on entry)."""
        getter, attribute = _target_getter(target)
        return _Patcher(
            getter,
            attribute,
            new,
            spec,
            create,
            spec_set,
            autospec,
            new_callable,
            kwargs,
            unsafe=unsafe,
            label=target,
        )

    def object(
        self,
        target: Any,
        attribute: str,
        new: Any = DEFAULT,
        spec: Any = None,
        create: bool = False,
        spec_set: Any = None,
        autospec: Any = None,
        new_callable: Any = None,
        *,
        unsafe: bool = False,
        **kwargs: Any,
    ) -> _Patcher:
        """Patch the attribute ``attribute`` of the object ``target``."""
        if type(target) is str:
            raise TypeError(
                f"{target!r} must be the actual object to be patched, not a str; "
                f"use patch('{target}.{attribute}') to patch by dotted path"
            )
        return _Patcher(
            lambda: target,
            attribute,
            new,
            spec,
            create,
            spec_set,
            autospec,
            new_callable,
            kwargs,
            unsafe=unsafe,
            label=f"{_describe(target)}.{attribute}",
        )

    def multiple(
        self,
        target: Any,
        spec: Any = None,
        create: bool = False,
        spec_set: Any = None,
        autospec: Any = None,
        new_callable: Any = None,
        **kwargs: Any,
    ) -> _Patcher:
        """Patch several attributes of ``target`` (an object or a dotted path) at once:
        ``patch.multiple(obj, a=1, b=DEFAULT)``. Created mocks are passed by name to a decorated
        function, and returned as a dict by the context manager."""
        if type(target) is str:
            getter: Callable[[], Any] = functools.partial(_resolve_dotted, target)
            where = target
        else:
            getter, where = (lambda: target), _describe(target)
        if not kwargs:
            raise ValueError(
                "Must supply at least one keyword argument with patch.multiple: "
                "patch.multiple(target, name=new_value, other=DEFAULT)"
            )
        patchers = []
        for attribute, new in kwargs.items():
            patcher = _Patcher(
                getter,
                attribute,
                new,
                spec,
                create,
                spec_set,
                autospec,
                new_callable,
                {},
                label=f"{where}.{attribute}",
            )
            patcher.attribute_name = attribute
            patchers.append(patcher)
        first = patchers[0]
        first.additional_patchers = patchers[1:]
        return first

    @staticmethod
    def stopall() -> None:
        """Stop every patch started with ``start()`` through this module, latest first."""
        while _started:
            patcher, _applied = _started[-1]
            patcher.stop()


patch = _Patch()

"""Every user-facing error of asynq.tools, pinned: what was received, what was expected, the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from asynq import asynq
from asynq.tools import (
    acached_per_instance,
    afilter,
    afilterfalse,
    alazy_constant,
    alru_cache,
    amap,
    amax,
    amin,
    aretry,
    asift,
    asorted,
    call_with_context,
    deduplicate,
)

NOT_A_FUNCTION = (
    "pass an @asynq() function (its calls for all elements are batched together) or any callable"
)


@asynq()
def ident(x: Any) -> Any:
    return x


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: amap(5, [1]),
            f"amap() expects a function as its first argument, got int: 5; {NOT_A_FUNCTION}",
        ),
        (
            lambda: afilter("odd", [1]),
            f"afilter() expects a function as its first argument, got str: 'odd'; {NOT_A_FUNCTION}",
        ),
        (
            lambda: afilterfalse(1.5, [1]),
            f"afilterfalse() expects a function as its first argument, got float: 1.5; "
            f"{NOT_A_FUNCTION}",
        ),
        (
            lambda: asift([], [1]),
            f"asift() expects a function as its first argument, got list: []; {NOT_A_FUNCTION}",
        ),
        (
            lambda: asorted([1], key=3),
            f"asorted() expects a function as key=, got int: 3; {NOT_A_FUNCTION}",
        ),
        (
            lambda: amax([1], key="len"),
            f"amax() expects a function as key=, got str: 'len'; {NOT_A_FUNCTION}",
        ),
    ],
)
def test_a_non_function_where_a_function_belongs_is_named(
    call: Callable[[], Any], message: str
) -> None:
    with pytest.raises(TypeError) as caught:
        call()
    assert str(caught.value) == message


def test_amax_and_amin_misuse_is_explained() -> None:
    with pytest.raises(TypeError) as caught:
        amax()
    assert str(caught.value) == "amax() expected at least 1 argument, got 0"

    with pytest.raises(TypeError) as caught:
        amin(7)
    assert str(caught.value) == (
        "amin() got a single argument that is not iterable: int 7; pass an iterable "
        "(amin(values)) or several values (amin(a, b))"
    )

    with pytest.raises(ValueError) as caught_value:
        amax([])
    assert str(caught_value.value) == (
        "amax() arg is an empty sequence; pass default= for a value to return instead"
    )

    with pytest.raises(TypeError) as caught:
        amax(1, 2, default=0)
    assert str(caught.value) == (
        "Cannot specify a default for amax() with multiple positional arguments; write "
        "amax([a, b, ...], default=...) or drop default="
    )


def test_call_with_context_with_its_arguments_swapped_shows_the_call_order() -> None:
    with pytest.raises(TypeError) as caught:
        call_with_context(ident, ident, 1)
    assert str(caught.value) == (
        "call_with_context() expects a context manager as its first argument, got "
        f"AsyncDecorator: {ident!r}; the call order is "
        "call_with_context(context, fn, *args, **kwargs)"
    )


@pytest.mark.parametrize(
    "decorator, name",
    [
        (acached_per_instance(), "@acached_per_instance()"),
        (alru_cache(), "@alru_cache()"),
        (alazy_constant(), "@alazy_constant()"),
        (deduplicate(), "@deduplicate()"),
    ],
)
def test_a_caching_decorator_on_a_plain_function_says_to_add_asynq_below_it(
    decorator: Any, name: str
) -> None:
    def settings() -> int:
        return 1

    with pytest.raises(TypeError) as caught:
        decorator(settings)
    qualname = settings.__qualname__
    assert str(caught.value) == (
        f"{name} expects an asynq function (decorated with @asynq() or @async_proxy()), got "
        f"function: {qualname}; put {name} above @asynq(): `{name}` then `@asynq()` then "
        f"`def {qualname}`"
    )

    with pytest.raises(TypeError) as caught:
        decorator(5)
    assert str(caught.value) == (
        f"{name} expects an asynq function (decorated with @asynq() or @async_proxy()), got "
        f"int: 5; write {name} on the line above an @asynq() function"
    )


class Slotted:
    __slots__ = ("x",)

    @acached_per_instance()
    @asynq()
    def value(self) -> int:
        return 1


class Plain:
    @acached_per_instance()
    @asynq()
    def total(self, numbers: Any) -> int:
        return sum(numbers)


def test_acached_per_instance_on_an_instance_without_weak_references_says_how_to_allow_them() -> (
    None
):
    with pytest.raises(TypeError) as caught:
        Slotted().value()
    assert str(caught.value) == (
        "@acached_per_instance() on Slotted.value needs instances that support weak references, "
        "so that the cache dies with them; Slotted has __slots__ without '__weakref__': add "
        "'__weakref__' to its __slots__"
    )


def test_an_unhashable_argument_of_a_cached_or_deduplicated_call_is_named() -> None:
    with pytest.raises(TypeError) as caught:
        Plain().total([1, 2])
    assert str(caught.value) == (
        "@acached_per_instance(): Plain.total([1, 2]) has an unhashable argument, and calls are "
        "matched by their arguments; pass hashable values (a tuple instead of a list, a "
        "frozenset instead of a set)"
    )

    @deduplicate()
    @asynq()
    def load(keys: Any) -> Any:
        return keys

    with pytest.raises(TypeError) as caught:
        load({1})
    assert str(caught.value) == (
        f"@deduplicate(): {load.__qualname__}({{1}}) has an unhashable argument, and calls are "
        "matched by their arguments; pass hashable values (a tuple instead of a list, a "
        "frozenset instead of a set), or give a keygetter that builds a hashable key"
    )

    @alru_cache()
    @asynq()
    def cached(keys: Any) -> Any:
        return keys

    with pytest.raises(TypeError, match=r"^@alru_cache\(\): .*\(\{'a': 1\}\) has an unhashable"):
        cached({"a": 1})


def test_an_alazy_constant_called_with_arguments_points_to_alru_cache() -> None:
    @alazy_constant()
    @asynq()
    def settings() -> int:
        return 1

    with pytest.raises(TypeError) as caught:
        settings(1, region="eu")
    assert str(caught.value) == (
        f"{settings.__qualname__} is an @alazy_constant() and takes no arguments, got 1 "
        "positional and 1 keyword argument(s); for a function of arguments use @alru_cache()"
    )


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda: alru_cache(maxsize=0),
            ValueError,
            "alru_cache(maxsize=...) must be a positive integer, got 0; for no caching leave the "
            "decorator out",
        ),
        (
            lambda: alru_cache(key_fn=3),
            TypeError,
            "alru_cache(key_fn=...) must be a function of (args, kwargs), got int: 3",
        ),
        (
            lambda: alazy_constant(ttl=-1),
            ValueError,
            "alazy_constant(ttl=...) is a number of microseconds (0: never expires), got -1",
        ),
        (
            lambda: deduplicate(keygetter="uid"),
            TypeError,
            "deduplicate(keygetter=...) must be a function of (args, kwargs), got str: 'uid'",
        ),
        (
            lambda: aretry(5),
            TypeError,
            "aretry() expects an exception class or a tuple of them as exception_cls, got 5; "
            "e.g. aretry(ConnectionError) or aretry((ConnectionError, TimeoutError))",
        ),
        (
            lambda: aretry(()),
            TypeError,
            "aretry() expects an exception class or a tuple of them as exception_cls, got (); "
            "e.g. aretry(ConnectionError) or aretry((ConnectionError, TimeoutError))",
        ),
        (
            lambda: aretry(ValueError, max_tries=0),
            ValueError,
            "aretry(max_tries=...) is the total number of attempts, a positive integer; got 0",
        ),
        (
            lambda: aretry(ValueError, sleep=-1),
            ValueError,
            "aretry(sleep=...) is a number of seconds >= 0, got -1",
        ),
    ],
)
def test_bad_decorator_options_are_rejected_when_decorating(
    make: Callable[[], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        make()
    assert str(caught.value) == message

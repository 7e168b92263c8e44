"""Lines the rewrite makes too long (more functions convert now that reads may stay plain
calls) are wrapped at their brackets; lines the file already had are left as they were."""

from __future__ import annotations

import textwrap

from asynq.migrate._wrap import wrap_new_lines


def _wrap(code: str, original: str = "", limit: int = 60) -> str:
    return wrap_new_lines(textwrap.dedent(code).lstrip(), textwrap.dedent(original), limit)


def test_a_long_comprehension_is_spread_one_clause_per_line():
    wrapped = _wrap(
        """
        def f(ids, flags):
            return {"on": [i for i, flag in zip(ids, flags) if flag], "n": len(ids)}
        """
    )
    assert wrapped == textwrap.dedent(
        """\
        def f(ids, flags):
            return {
                "on": [i for i, flag in zip(ids, flags) if flag],
                "n": len(ids),
            }
        """
    )


def test_a_long_tuple_of_names_on_the_left_of_a_yield_is_parenthesized_and_spread():
    wrapped = _wrap(
        """
        def f(x):
            first_value, second_value, third_value = yield (
                a.asynq(x),
            )
        """,
        limit=40,
    )
    assert wrapped == textwrap.dedent(
        """\
        def f(x):
            (
                first_value,
                second_value,
                third_value,
            ) = yield (
                a.asynq(x),
            )
        """
    )


def test_a_long_call_inside_a_hanging_comprehension_keeps_its_indentation():
    wrapped = _wrap(
        """
        def f(book):
            return [r.show()
                    for r in sorted((yield book.reviews.asynq()), key=lambda r: -r.rating)]
        """,
        limit=80,
    )
    assert wrapped == textwrap.dedent(
        """\
        def f(book):
            return [r.show()
                    for r in sorted(
                        (yield book.reviews.asynq()),
                        key=lambda r: -r.rating,
                    )]
        """
    )


def test_a_generator_argument_is_spread_inside_its_call_and_a_yield_gets_its_own_lines():
    wrapped = _wrap(
        """
        def f(xs):
            total = sum(value_of_something(x) for x in xs if x is not None and x > 0)
            return (yield [g.asynq(x) for x in xs if x is not None and x > 0])
        """
    )
    assert wrapped == textwrap.dedent(
        """\
        def f(xs):
            total = sum(
                value_of_something(x)
                for x in xs
                if x is not None and x > 0
            )
            return (
                yield [
                    g.asynq(x)
                    for x in xs
                    if x is not None and x > 0
                ]
            )
        """
    )
    compile(wrapped, "f.py", "exec")


def test_lines_the_file_already_had_are_not_wrapped():
    code = """
        def f(ids, flags):
            return {"on": [i for i, flag in zip(ids, flags) if flag], "n": len(ids)}
        """
    assert _wrap(code, original=code) == textwrap.dedent(code).lstrip()


def test_wrapping_twice_changes_nothing():
    once = _wrap(
        """
        def f(ids, flags):
            return {"on": [i for i, flag in zip(ids, flags) if flag], "n": len(ids)}
        """
    )
    assert wrap_new_lines(once, "", 60) == once


def test_a_call_of_one_long_argument_puts_it_on_its_own_line_without_a_trailing_comma():
    wrapped = _wrap(
        """
        def f(viewer_id, course_id, enrolled):
            return {"done": len((yield done_ids.asynq(viewer_id, course_id))) if enrolled else 0}
        """,
        limit=70,
    )
    assert wrapped == textwrap.dedent(
        """\
        def f(viewer_id, course_id, enrolled):
            return {
                "done": len(
                    (yield done_ids.asynq(viewer_id, course_id))
                ) if enrolled else 0,
            }
        """
    )
    compile(wrapped, "f.py", "exec")

"""What asynq-migrate refuses to convert: left untouched, reported with line and reason."""

from __future__ import annotations

import pytest

from asynq.migrate import migrate_sources

MODELS = """
from asynq import priming
from app.cache import mc


@mc.cached("f")
def f(x):
    return x + 1


prime_f = f.prime


@mc.cached("g")
def g(x):
    return x * 2


prime_g = g.prime
"""


def refuse(body, dedent, **others):
    """Migrate ``app/m.py`` = ``body``; check it is left exactly as it was; return refusals."""
    source = dedent(body)
    sources = {"app/m.py": source, "app/models.py": dedent(MODELS), **others}
    result = migrate_sources(sources)
    assert result.code["app/m.py"] == source
    assert migrate_sources(result.code).code == result.code
    return result.refusals


@pytest.fixture
def refused(dedent):
    def check(body, **others):
        return refuse(body, dedent, **others)

    return check


CASES = {
    "a read inside a lambda that is not a sort key": (
        """
        from app.models import f, prime_f

        def h(xs):
            return list(map(lambda x: f(x), xs))

        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """,
        4,
        "inside a lambda",
    ),
    "a read inside a nested function": (
        """
        from app.models import f, prime_f

        def h(xs):
            def inner(x):
                return f(x)
            return [inner(x) for x in xs]

        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """,
        5,
        "inside a nested function",
    ),
    "a read inside a with block": (
        """
        from app.models import f, prime_f

        def h(x):
            with lock:
                return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        5,
        "inside a `with` block",
    ),
    "a read inside a while loop": (
        """
        from app.models import f, prime_f

        def h(x):
            while x > 10:
                x = f(x)
            return x

        def prime_h(x):
            prime_f(x)
        """,
        5,
        "inside a `while` loop",
    ),
    "a read after a continue whose test depends on earlier iterations": (
        """
        from app.models import f, prime_f

        def h(xs):
            total = 0
            for x in xs:
                if total > 3:
                    continue
                total += f(x)
            return total

        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """,
        8,
        "inside a `for` loop",
    ),
    "a read in a comprehension condition with three for clauses": (
        """
        from app.models import f, prime_f

        def h(xsss):
            return [x for xss in xsss for xs in xss for x in xs if f(x)]

        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """,
        4,
        "in a comprehension's condition",
    ),
    "a read in a generator expression kept for later": (
        """
        from app.models import f, prime_f

        def h(xs):
            return iter(f(x) for x in xs)

        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """,
        4,
        "generator expression",
    ),
    "a read inside finally": (
        """
        from app.models import f, prime_f

        def h(x):
            try:
                pass
            finally:
                return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        7,
        "inside a `finally` block",
    ),
    "a read guarded by a bare except": (
        """
        from app.models import f, prime_f

        def h(x):
            try:
                return f(x)
            except:
                return None

        def prime_h(x):
            prime_f(x)
        """,
        5,
        "bare `except:`",
    ),
    "a dynamic call in the function": (
        """
        from app import models
        from app.models import prime_f

        def h(x):
            return getattr(models, "f")(x)

        def prime_h(x):
            prime_f(x)
        """,
        5,
        "dynamic call",
    ),
    "a dynamic call in the twin": (
        """
        from app import models
        from app.models import f

        def h(x):
            return f(x)

        def prime_h(x):
            getattr(models, "prime_f")(x)
        """,
        8,
        "makes a dynamic call",
    ),
    "a twin that primes what the function does not read": (
        """
        from app.models import f, prime_f, prime_g

        def h(x):
            return f(x)

        def prime_h(y):  # other parameters: h cannot be made to call it first
            prime_f(y)
            prime_g(y)
        """,
        8,
        "never reads g directly",
    ),
    "a twin that primes an unknown function": (
        """
        from app.models import f, prime_f
        from elsewhere import prime_mystery

        def h(x):
            return f(x)

        def prime_h(x):
            prime_f(x)
            prime_mystery(x)
        """,
        9,
        "not a priming twin defined in the files being migrated",
    ),
    "a decorated function": (
        """
        from app.models import f, prime_f

        @log_calls
        def h(x):
            return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        4,
        "decorator @log_calls",
    ),
    "an async def": (
        """
        from app.models import f, prime_f

        async def h(x):
            return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        3,
        "`async def`",
    ),
    "a function that is already a generator": (
        """
        from app.models import f, prime_f

        def h(xs):
            for x in xs:
                yield f(x)

        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """,
        3,
        "already contains `yield`",
    ),
    "a priming function used as a value": (
        """
        from app.models import f, prime_f

        def h(xs):
            list(map(prime_f, xs))
            return [f(x) for x in xs]

        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """,
        4,
        "as a value",
    ),
    "a priming call whose arguments have side effects": (
        """
        from app.models import f, prime_f

        def h(x):
            prime_f(compute(x))
            return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        4,
        "arguments that have side effects",
    ),
    "a module that already binds the name asynq": (
        """
        import asynq
        from app.models import f, prime_f

        def h(x):
            return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        4,
        "already uses the name `asynq`",
    ),
    "a function that reads nothing cached": (
        """
        def h(x):
            return x

        def prime_h(x):
            pass
        """,
        1,
        "nothing to batch",
    ),
    "a property whose getter name is taken": (
        """
        from app.models import f, prime_f

        class Page:
            @property
            def title(self):
                return f(1)

            def prime_title(self):
                prime_f(1)

            def get_title(self):
                return "x"
        """,
        5,
        "already has a get_title",
    ),
    "a method that reads only through self": (
        """
        from app.models import f, prime_f

        class Page:
            def title(self):
                return self.row["title"]

            def prime_title(self):
                prime_f(1)
        """,
        4,
        "reads through `self` or other objects are not followed",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unsafe_function_is_left_untouched_and_reported_with_line_and_reason(case, refused):
    body, line, words = CASES[case]
    refusals = refused(body)
    assert refusals, f"{case}: nothing was refused"
    reasons = [(r.line, r.reason) for r in refusals]
    assert any(r.line == line and words in r.reason for r in refusals), reasons
    assert all(r.path == "app/m.py" for r in refusals)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_refusal_reason_says_what_was_found_and_what_to_do(case, refused):
    for refusal in refused(CASES[case][0]):
        assert refusal.reason.endswith("."), refusal.reason
        assert refusal.reason[0].islower() or refusal.reason[0].isupper()
        assert any(
            hint in refusal.reason for hint in ("then rerun", "by hand", "Convert", "Delete")
        ), refusal.reason


def test_callers_of_a_refused_function_keep_their_twins_and_their_priming_calls(refused):
    refusals = refused(
        """
        from app.models import f, prime_f

        def stuck(x):
            with lock:
                return f(x)

        def prime_stuck(x):
            prime_f(x)

        def caller(x):
            return stuck(x) + 1

        def prime_caller(y):  # other parameters: caller cannot be made to call it first
            prime_stuck(y)

        def view(x):
            prime_caller(x)
            return caller(x)
        """
    )
    by_function = {r.function: r.reason for r in refusals}
    assert set(by_function) == {"stuck", "caller"}
    assert "reads stuck, which is not converted" in by_function["caller"]


def test_a_refusal_in_one_module_keeps_priming_working_in_the_modules_that_use_it(dedent):
    sources = {
        "app/models.py": dedent(MODELS),
        "app/logic.py": dedent(
            """
            from app.models import f, prime_f

            def stuck(x):
                with lock:
                    return f(x)

            def prime_stuck(x):
                prime_f(x)
            """
        ),
        "app/views.py": dedent(
            """
            from app.logic import prime_stuck, stuck

            def page(x):
                prime_stuck(x)
                return stuck(x)
            """
        ),
    }
    result = migrate_sources(sources)
    assert result.code["app/logic.py"] == sources["app/logic.py"]
    assert result.code["app/views.py"] == sources["app/views.py"]
    assert "prime_f = f.prime" in result.code["app/models.py"]
    assert [r.function for r in result.refusals] == ["stuck"]


def test_a_priming_call_through_an_import_inside_the_function_is_refused(refused):
    refusals = refused(
        """
        from app.models import f

        def h(x):
            from app.models import prime_f
            prime_f(x)
            return f(x)

        def prime_h(x):
            from app.models import prime_f
            prime_f(x)
        """
    )
    assert [(r.line, r.function) for r in refusals] == [(5, "h")]
    assert "import made inside the function" in refusals[0].reason


def test_a_loop_that_may_stop_early_is_not_read_ahead(refused):
    refusals = refused(
        """
        from app.models import f, prime_f

        def first_positive(xs):
            for x in xs:
                if f(x) > 0:
                    return x
            return None

        def prime_first_positive(xs):
            for x in xs[:3]:
                prime_f(x)
        """
    )
    assert [(r.function, r.line) for r in refusals] == [("first_positive", 5)]
    assert "inside a `for` loop that may stop early" in refusals[0].reason

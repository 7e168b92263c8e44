"""A converted function never leaves an import behind that nothing uses."""

from __future__ import annotations

from asynq.migrate import migrate_sources

MODELS = """
from app.cache import mc


@mc.cached("f")
def f(x):
    return x + 1


prime_f = f.prime
"""

VIEWS = """
from app.models import f, prime_f


def view(xs):
    for x in xs:
        prime_f(x)
    return [f(x) for x in xs]
"""


def test_the_import_of_an_alias_kept_for_other_modules_goes_with_its_last_use(assert_codemod):
    result = assert_codemod(
        """
        from app.models import f, prime_f


        def h(x):
            prime_f(x)
            return f(x) + 1


        def prime_h(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def h(x):
            f_value = yield f.asynq(x)
            return f_value + 1
        """,
        others={"app/models.py": MODELS, "app/views.py": VIEWS},
    )
    # The alias itself stays: the view still primes through it.
    assert "prime_f = f.prime" in result.code["app/models.py"]
    assert "from app.models import f, prime_f" in result.code["app/views.py"]


def test_an_import_another_module_reaches_through_this_one_stays(dedent):
    m = dedent(
        """
        from app.models import f, prime_f


        def h(x):
            prime_f(x)
            return f(x) + 1


        def prime_h(x):
            prime_f(x)
        """
    )
    views = VIEWS.replace("from app.models import f, prime_f", "from app.m import f, prime_f")
    result = migrate_sources(
        {"app/m.py": m, "app/models.py": dedent(MODELS), "app/views.py": dedent(views)}
    )
    assert "from app.models import f, prime_f\n" in result.code["app/m.py"]
    assert "@asynq()" in result.code["app/m.py"]


def test_an_import_that_was_unused_before_the_migration_is_left_alone(dedent):
    m = dedent(
        """
        from app.models import f, prime_f


        def h(x):
            return f(x) + 1


        def prime_h(x):
            pass
        """
    )
    result = migrate_sources(
        {"app/m.py": m, "app/models.py": dedent(MODELS), "app/views.py": dedent(VIEWS)}
    )
    assert "from app.models import f, prime_f\n" in result.code["app/m.py"]


def test_removing_the_first_import_leaves_no_blank_line_at_the_top_of_the_file(assert_codemod):
    assert_codemod(
        """
        from asynq import priming

        from app.models import f, prime_f


        def h(x):
            return f(x) + 1


        @priming.generator
        def prime_h(x):
            prime_f(x)
            yield
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def h(x):
            f_value = yield f.asynq(x)
            return f_value + 1
        """,
        others={"app/models.py": MODELS},
    )


def test_header_comments_above_a_removed_first_import_stay_on_top(assert_codemod):
    assert_codemod(
        """
        # The h page.
        from asynq import priming

        from app.models import f, prime_f


        def h(x):
            return f(x) + 1


        @priming.generator
        def prime_h(x):
            prime_f(x)
            yield
        """,
        """
        # The h page.
        from asynq import asynq

        from app.models import f


        @asynq()
        def h(x):
            f_value = yield f.asynq(x)
            return f_value + 1
        """,
        others={"app/models.py": MODELS},
    )

"""The rewritten code reads as a reviewer expects: no yield nested in another, imports where
the file keeps them, lines within the configured length."""

from __future__ import annotations

from tests.migrate.test_rewrite_rules import OTHERS


def test_a_read_that_another_read_needs_gets_a_name_instead_of_a_nested_yield(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def replies(c):
            node = {"id": c}
            node["replies"] = [g(r) for r in f(c)]
            return node


        def prime_replies(c):
            prime_f(c)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def replies(c):
            node = {"id": c}
            f_value = yield f.asynq(c)
            node["replies"] = yield [g.asynq(r) for r in f_value]
            return node
        """,
        others=OTHERS,
    )


def test_a_return_of_a_read_over_a_read_is_two_plain_yields(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def total(c):
            return sum([g(r) for r in f(c)])


        def prime_total(c):
            prime_f(c)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def total(c):
            f_value = yield f.asynq(c)
            return sum((yield [g.asynq(r) for r in f_value]))
        """,
        others=OTHERS,
    )


def test_the_asynq_import_joins_the_third_party_imports_in_alphabetical_order(assert_codemod):
    assert_codemod(
        """
        import os

        import attr

        from app.models import f, prime_f


        def h(x):
            return f(x) + len(os.sep) + len(attr.__name__)


        def prime_h(x):
            prime_f(x)
        """,
        """
        import os

        from asynq import asynq
        import attr

        from app.models import f


        @asynq()
        def h(x):
            return (yield f.asynq(x)) + len(os.sep) + len(attr.__name__)
        """,
        others=OTHERS,
    )


def test_the_asynq_import_gets_its_own_group_between_the_standard_library_and_the_project(
    assert_codemod,
):
    assert_codemod(
        """
        import os
        from app.models import f, prime_f
        from . import helpers


        def h(x):
            return f(x) + helpers.size(os.sep)


        def prime_h(x):
            prime_f(x)
        """,
        """
        import os

        from asynq import asynq

        from app.models import f
        from . import helpers


        @asynq()
        def h(x):
            return (yield f.asynq(x)) + helpers.size(os.sep)
        """,
        others=OTHERS,
    )

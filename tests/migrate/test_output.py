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
        from app.models import f, g
        from asynq import asynq


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
        from app.models import f, g
        from asynq import asynq


        @asynq()
        def total(c):
            f_value = yield f.asynq(c)
            return sum((yield [g.asynq(r) for r in f_value]))
        """,
        others=OTHERS,
    )

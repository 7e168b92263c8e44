"""What the codemod keeps so that a partly migrated program costs no extra round trip and
loses no behaviour: twins still used by legacy code, twins that do more than prime."""

from __future__ import annotations

from tests.migrate.test_rewrite_rules import OTHERS


def test_a_twin_with_a_side_effect_is_kept_and_reported_and_its_function_converted(
    assert_codemod,
):
    result = assert_codemod(
        """
        from app.models import f, prime_f
        from app.billing import BILLED


        def h(x):
            return f(x)


        def prime_h(x):
            BILLED.append(x)
            prime_f(x)
        """,
        """
        from app.models import f, prime_f
        from app.billing import BILLED
        from asynq import asynq


        @asynq()
        def h(x):
            return (yield f.asynq(x))


        def prime_h(x):
            BILLED.append(x)
            prime_f(x)
        """,
        others=OTHERS,
    )
    assert result.converted == [("app/m.py", "h")]
    (kept,) = result.kept
    assert (kept.path, kept.function, kept.line) == ("app/m.py", "prime_h", 9)
    assert kept.reason == (
        "prime_h is kept although h is converted: besides priming it runs "
        "`BILLED.append(x)`, which its callers may rely on. Move that effect where it "
        "belongs, then delete prime_h by hand."
    )


def test_a_converted_caller_keeps_calling_a_twin_that_does_more_than_prime(assert_codemod):
    result = assert_codemod(
        """
        from app.models import f, prime_f
        import logging


        def h(x):
            return f(x)


        def prime_h(x):
            logging.info("billable read of %s", x)
            prime_f(x)


        def page(x):
            return h(x) + 1


        def prime_page(x):
            prime_h(x)
        """,
        """
        from app.models import f, prime_f
        import logging
        from asynq import asynq


        @asynq()
        def h(x):
            return (yield f.asynq(x))


        def prime_h(x):
            logging.info("billable read of %s", x)
            prime_f(x)


        @asynq()
        def page(x):
            return (yield h.asynq(x)) + 1
        """,
        others=OTHERS,
    )
    assert sorted(result.converted) == [("app/m.py", "h"), ("app/m.py", "page")]
    assert [k.function for k in result.kept] == ["prime_h"]


def test_a_twin_whose_writes_stay_local_is_deleted_with_its_function(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def h(xs):
            return [f(x) for x in xs]


        def prime_h(xs):
            seen = set()
            for x in xs:
                if x not in seen:
                    seen.add(x)
                    prime_f(x)
        """,
        """
        from app.models import f
        from asynq import asynq


        @asynq()
        def h(xs):
            return (yield [f.asynq(x) for x in xs])
        """,
        others=OTHERS,
    )


def test_a_primed_method_left_for_review_keeps_its_twin_body(assert_codemod):
    source = """
        from app.logic import h, prime_h


        class Page:
            def render(self, xs):
                return [h(x) for x in xs]

            def prime_render(self, xs):
                for x in xs:
                    prime_h(x)
        """
    result = assert_codemod(
        source,
        source,
        path="app/views.py",
        others={
            **OTHERS,
            "app/logic.py": """
            from app.models import f, prime_f

            def h(x):
                return f(x)

            def prime_h(x):
                prime_f(x)
            """,
        },
    )
    assert [r.function for r in result.refusals] == ["Page.render"]
    assert [k.function for k in result.kept] == ["prime_h"]

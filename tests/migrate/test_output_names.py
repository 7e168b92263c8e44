"""A fetched value gets a name: a read inside a larger expression is read on a line of its own
first, when that keeps the order of evaluation and what runs conditionally."""

from __future__ import annotations

#: Cached functions used by the tests, in their own module.
MODELS = """
from asynq import priming
from app.cache import mc


@mc.cached("f")
def f(x):
    return {"slug": str(x), "items": [x], "title": x}


prime_f = f.prime


@mc.cached("g")
def g(x):
    return [x]


prime_g = g.prime
"""
OTHERS = {"app/models.py": MODELS}


def test_a_read_inside_an_f_string_is_read_into_a_name_on_the_line_before(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def url(x):
            # the page's address
            return f"/courses/{f(x)['slug']}"


        def prime_url(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def url(x):
            # the page's address
            f_value = yield f.asynq(x)
            return f"/courses/{f_value['slug']}"
        """,
        others=OTHERS,
    )


def test_a_read_in_an_if_test_or_a_for_header_is_named_before_the_statement(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def total(x):
            if g(x) is None:
                return None
            total = 0
            for item in f(x)["items"]:
                total += item
            return total


        def prime_total(x):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def total(x):
            g_value = yield g.asynq(x)
            if g_value is None:
                return None
            total = 0
            f_value = yield f.asynq(x)
            for item in f_value["items"]:
                total += item
            return total
        """,
        others=OTHERS,
    )


def test_a_subscripted_read_and_a_membership_test_use_the_name_of_the_value(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def seen(user, x):
            slug = f(x)["slug"]
            return user in g(slug)


        def prime_seen(user, x):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def seen(user, x):
            f_value = yield f.asynq(x)
            slug = f_value["slug"]
            g_value = yield g.asynq(slug)
            return user in g_value
        """,
        others=OTHERS,
    )


def test_a_whole_assignment_return_or_statement_yield_needs_no_new_name(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def plain(x):
            row = f(x)
            return g(row["slug"])


        def prime_plain(x):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def plain(x):
            row = yield f.asynq(x)
            return (yield g.asynq(row["slug"]))
        """,
        others=OTHERS,
    )


def test_a_read_after_a_call_with_effects_in_the_same_statement_stays_where_it_is(
    assert_codemod,
):
    # Reading it first would run the read before ``log(x)``.
    assert_codemod(
        """
        from app.models import f, prime_f


        def page(x):
            return {"logged": log(x), "value": f(x)["title"]}


        def prime_page(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def page(x):
            return {"logged": log(x), "value": (yield f.asynq(x))["title"]}
        """,
        others=OTHERS,
    )


def test_reads_that_run_only_sometimes_stay_in_their_branch(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def card(x, flag):
            out = {"done": len(f(x)) if flag else 0}
            more = flag and g(x)
            if x > 3:
                return out
            elif f(x)["title"] > 2:
                return None
            return out, more


        def prime_card(x, flag):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def card(x, flag):
            out = {"done": len((yield f.asynq(x))) if flag else 0}
            more = flag and (yield g.asynq(x))
            if x > 3:
                return out
            elif (yield f.asynq(x))["title"] > 2:
                return None
            return out, more
        """,
        others=OTHERS,
    )


def test_an_assignment_of_a_conditional_expression_that_reads_becomes_an_if(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def label(x, flag):
            title = f(x)["title"] if flag else g(x)  # shown on the card
            return title


        def prime_label(x, flag):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def label(x, flag):
            if flag:  # shown on the card
                f_value = yield f.asynq(x)
                title = f_value["title"]
            else:
                title = yield g.asynq(x)
            return title
        """,
        others=OTHERS,
    )


def test_a_conditional_expression_whose_test_has_effects_is_left_as_it_is(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def label(x):
            return f(x)["title"] if allowed(x) else None


        def prime_label(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def label(x):
            return (yield f.asynq(x))["title"] if allowed(x) else None
        """,
        others=OTHERS,
    )


def test_a_new_name_never_takes_a_name_the_function_already_uses(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def doubled(x):
            f_value = x * 2
            return f(x)["title"] + f_value


        def prime_doubled(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def doubled(x):
            f_value = x * 2
            f_value_2 = yield f.asynq(x)
            return f_value_2["title"] + f_value
        """,
        others=OTHERS,
    )


def test_a_read_next_to_a_lambda_is_named_and_the_lambda_is_left_alone(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def top(xs, x):
            return sorted(xs, key=lambda v: -v)[: f(x)["title"]]


        def prime_top(xs, x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def top(xs, x):
            f_value = yield f.asynq(x)
            return sorted(xs, key=lambda v: -v)[: f_value["title"]]
        """,
        others=OTHERS,
    )


def test_a_returned_conditional_expression_that_reads_becomes_an_if_of_two_returns(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def label(x):
            return f(x)["title"] if x % 3 else g(x + 1)


        def prime_label(x):
            prime_f(x)
            prime_g(x + 1)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def label(x):
            if x % 3:
                f_value = yield f.asynq(x)
                return f_value["title"]
            else:
                return (yield g.asynq(x + 1))
        """,
        others=OTHERS,
    )


def test_new_names_are_numbered_in_the_order_they_are_written(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def page(x):
            slug = f(x)["slug"]
            log(slug)
            return {"title": f(x)["title"], "ids": g(x)}


        def prime_page(x):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def page(x):
            f_value = yield f.asynq(x)
            slug = f_value["slug"]
            log(slug)
            f_value_2, g_value = yield f.asynq(x), g.asynq(x)
            return {"title": f_value_2["title"], "ids": g_value}
        """,
        others=OTHERS,
    )

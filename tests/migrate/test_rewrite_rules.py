"""Before/after tests for every rewrite rule of asynq-migrate."""

from __future__ import annotations

from asynq.migrate import MigrateConfig

#: Cached functions used by the tests, in their own module.
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
OTHERS = {"app/models.py": MODELS}


def test_an_assignment_from_a_cached_call_becomes_a_yield(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def h(x):
            y = f(x)
            return y + 1


        def prime_h(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def h(x):
            y = yield f.asynq(x)
            return y + 1
        """,
        others=OTHERS,
    )


def test_a_returned_cached_call_becomes_a_parenthesised_yield(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f

        def h(x):
            return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f

        @asynq()
        def h(x):
            return (yield f.asynq(x))
        """,
        others=OTHERS,
    )


def test_a_comprehension_over_a_cached_call_becomes_one_yield(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f

        def names(xs):
            return [f(x) for x in xs if x]

        def prime_names(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f

        @asynq()
        def names(xs):
            return (yield [f.asynq(x) for x in xs if x])
        """,
        others=OTHERS,
    )


def test_a_dict_comprehension_over_a_cached_call_becomes_one_yield_of_a_dict(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f

        def by_id(xs):
            found = {x: f(x) for x in xs}
            return found

        def prime_by_id(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f

        @asynq()
        def by_id(xs):
            found = yield {x: f.asynq(x) for x in xs}
            return found
        """,
        others=OTHERS,
    )


def test_a_set_comprehension_and_a_consumed_generator_become_one_list_yield_each(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def stats(xs):
            total = sum(f(x) for x in xs)
            distinct = {g(x) for x in xs}
            return total, distinct

        def prime_stats(xs):
            for x in xs:
                prime_f(x)
                prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def stats(xs):
            f_values, g_values = yield [f.asynq(x) for x in xs], [g.asynq(x) for x in xs]
            total = sum(f_values)
            distinct = set(g_values)
            return total, distinct
        """,
        others=OTHERS,
    )


def test_consecutive_independent_reads_become_one_tuple_yield(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def profile(x, y):
            a = f(x)  # the name
            b = g(y)
            return a, b

        def prime_profile(x, y):
            prime_f(x)
            prime_g(y)
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def profile(x, y):
            # the name
            a, b = yield f.asynq(x), g.asynq(y)
            return a, b
        """,
        others=OTHERS,
    )


def test_a_read_that_needs_an_earlier_value_gets_its_own_later_yield(assert_codemod):
    assert_codemod(
        """
        from asynq import priming
        from app.models import f, g, prime_f, prime_g

        def chain(x):
            a = f(x)
            b = g(a)
            return b

        @priming.generator
        def prime_chain(x):
            prime_f(x)
            yield
            prime_g(f(x))
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def chain(x):
            a = yield f.asynq(x)
            b = yield g.asynq(a)
            return b
        """,
        others=OTHERS,
    )


def test_a_loop_appending_one_cached_read_per_item_becomes_a_batched_yield(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f

        def collect(xs):
            out = []
            for x in xs:
                if x > 1:
                    out.append(f(x))
            return out

        def prime_collect(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f

        @asynq()
        def collect(xs):
            out = yield [f.asynq(x) for x in xs if x > 1]
            return out
        """,
        others=OTHERS,
    )


def test_an_append_loop_onto_a_list_built_earlier_extends_it_with_one_yield(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f

        def collect(xs):
            out = [0]
            for x in xs:
                out.append(f(x))
            return out

        def prime_collect(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f

        @asynq()
        def collect(xs):
            out = [0]
            f_values = yield [f.asynq(x) for x in xs]
            out.extend(f_values)
            return out
        """,
        others=OTHERS,
    )


def test_a_loop_storing_one_read_per_key_becomes_a_yield_of_a_dict(assert_codemod):
    assert_codemod(
        """
        from app.models import g, prime_g

        def table(xs):
            result = {}
            for x in xs:
                result[x] = g(x)
            return result

        def prime_table(xs):
            for x in xs:
                prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import g

        @asynq()
        def table(xs):
            result = yield {x: g.asynq(x) for x in xs}
            return result
        """,
        others=OTHERS,
    )


def test_a_display_made_only_of_reads_becomes_one_yield(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def card(x):
            return {"f": f(x), "g": g(x)}

        def prime_card(x):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def card(x):
            return (yield {"f": f.asynq(x), "g": g.asynq(x)})
        """,
        others=OTHERS,
    )


def test_reads_inside_larger_expressions_are_read_into_names_first(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def score(x):
            if f(x) > 3:
                return len(str(g(x))) + 1
            return 0

        def prime_score(x):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def score(x):
            f_value = yield f.asynq(x)
            if f_value > 3:
                g_value = yield g.asynq(x)
                return len(str(g_value)) + 1
            return 0
        """,
        others=OTHERS,
    )


def test_the_priming_generator_example_becomes_two_rounds_of_yields(assert_codemod):
    result = assert_codemod(
        """
        from asynq import priming
        from myapp.cache import mc          # mc is an asynq.memcache.MemcacheClient

        @mc.cached("name_of_user")
        def name_of_user(uid):
            return db_lookup(uid)

        prime_name_of_user = name_of_user.prime        # alias twin: records the key, no I/O

        def get_names(uids):
            return [name_of_user(uid) for uid in uids]

        def prime_get_names(uids):                     # hand-written twin
            for uid in uids:
                prime_name_of_user(uid)

        @mc.cached("upvoters_of_answer")
        def upvoters_of_answer(aid): ...
        prime_upvoters_of_answer = upvoters_of_answer.prime

        def get_upvoter_names(aid):
            upvoter_uids = upvoters_of_answer(aid)
            return [name_of_user(uid) for uid in upvoter_uids]

        @priming.generator                              # needs values to decide what to prime
        def prime_get_upvoter_names(aid):
            prime_upvoters_of_answer(aid)
            yield                                      # pending keys are fetched here
            upvoter_uids = upvoters_of_answer(aid)     # served from the request-local cache
            for uid in upvoter_uids:
                prime_name_of_user(uid)

        # a view (unconverted caller):
        def render(aids):
            for aid in aids:
                prime_get_upvoter_names(aid)
            return [get_upvoter_names(aid) for aid in aids]
        """,
        """
        from asynq import asynq, priming
        from myapp.cache import mc          # mc is an asynq.memcache.MemcacheClient

        @mc.cached("name_of_user")
        def name_of_user(uid):
            return db_lookup(uid)

        prime_name_of_user = name_of_user.prime        # alias twin: records the key, no I/O

        @asynq()
        def get_names(uids):
            return (yield [name_of_user.asynq(uid) for uid in uids])

        @mc.cached("upvoters_of_answer")
        def upvoters_of_answer(aid): ...
        prime_upvoters_of_answer = upvoters_of_answer.prime

        @asynq()
        def get_upvoter_names(aid):
            upvoter_uids = yield upvoters_of_answer.asynq(aid)
            return (yield [name_of_user.asynq(uid) for uid in upvoter_uids])

        @priming.generator                              # needs values to decide what to prime
        def prime_get_upvoter_names(aid):
            prime_upvoters_of_answer(aid)
            yield                                      # pending keys are fetched here
            upvoter_uids = upvoters_of_answer(aid)     # served from the request-local cache
            for uid in upvoter_uids:
                prime_name_of_user(uid)

        # a view (unconverted caller):
        def render(aids):
            for aid in aids:
                prime_get_upvoter_names(aid)
            return [get_upvoter_names(aid) for aid in aids]
        """,
    )
    assert result.refusals == [] and result.notes == []
    # The view stays legacy and keeps batching across answers through the kept twin.
    assert [(k.function, k.line) for k in result.kept] == [("prime_get_upvoter_names", 26)]


def test_a_converted_caller_yields_its_converted_callee(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def inner(x):
            return f(x)

        def prime_inner(x):
            prime_f(x)

        def outer(x):
            a = inner(x)
            b = g(x)
            return a + b

        def prime_outer(x):
            prime_inner(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def inner(x):
            return (yield f.asynq(x))

        @asynq()
        def outer(x):
            a, b = yield inner.asynq(x), g.asynq(x)
            return a + b
        """,
        others=OTHERS,
    )


def test_callers_in_other_modules_are_converted_whatever_the_import_style(assert_codemod):
    logic = """
    import app.models
    import app.models as models
    from app import models as m2
    from .models import f, prime_f


    def h(x):
        a = f(x)
        b = models.g(x)
        c = app.models.f(x)
        d = m2.g(x)
        return a, b, c, d


    def prime_h(x):
        prime_f(x)
        models.prime_g(x)
        app.models.prime_f(x)
        m2.prime_g(x)
    """
    result = assert_codemod(
        logic,
        """
        from asynq import asynq

        import app.models
        import app.models as models
        from app import models as m2
        from .models import f


        @asynq()
        def h(x):
            a, b, c, d = yield (
                f.asynq(x),
                models.g.asynq(x),
                app.models.f.asynq(x),
                m2.g.asynq(x),
            )
            return a, b, c, d
        """,
        path="app/logic.py",
        others=OTHERS,
    )
    models_after = result.code["app/models.py"]
    assert "prime_f" not in models_after and "priming" not in models_after


def test_priming_calls_inside_a_converted_function_are_deleted(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def h(xs):
            for x in xs:
                prime_f(x)
            prime_g(1); total = 0
            return [f(x) for x in xs], total

        def prime_h(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def h(xs):
            total = 0
            f_values = yield [f.asynq(x) for x in xs]
            return f_values, total
        """,
        others=OTHERS,
    )


def test_asynq_joins_an_existing_from_asynq_import(assert_codemod):
    assert_codemod(
        """
        from asynq import priming, result
        from app.models import f, prime_f

        def h(x):
            return f(x)

        @priming.generator
        def prime_h(x):
            prime_f(x)
            yield
        """,
        """
        from asynq import asynq, result
        from app.models import f

        @asynq()
        def h(x):
            return (yield f.asynq(x))
        """,
        others=OTHERS,
    )


def test_prime_calls_of_converted_functions_stay_in_views_and_scripts_with_their_twin(
    assert_codemod,
):
    view = """
        from app.logic import h, prime_h

        def page(xs):
            prime_h(xs[0])
            for x in xs:
                if x:
                    prime_h(x)
            return [h(x) for x in xs]

        for arg in (1, 2):
            prime_h(arg)
        print(h(1))
        """
    result = assert_codemod(
        view,
        view,
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
    assert result.notes == []
    assert "def prime_h(x):\n    prime_f(x)" in result.code["app/logic.py"]
    assert "@asynq()\ndef h(x):" in result.code["app/logic.py"]
    assert [(k.path, k.function, k.line) for k in result.kept] == [
        ("app/logic.py", "prime_h", 6)
    ]


def test_priming_of_cached_functions_stays_in_unconverted_code_with_its_alias(assert_codemod):
    result = assert_codemod(
        """
        from app.models import f, prime_f

        def page(xs):
            for x in xs:
                prime_f(x)
            return [f(x) for x in xs]
        """,
        """
        from app.models import f, prime_f

        def page(xs):
            for x in xs:
                prime_f(x)
            return [f(x) for x in xs]
        """,
        path="app/views.py",
        others=OTHERS,
    )
    assert "prime_f = f.prime" in result.code["app/models.py"]
    assert "prime_g = g.prime" not in result.code["app/models.py"]


def test_a_read_inside_try_except_is_converted_in_place(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def safe(x):
            try:
                value = f(x)
            except KeyError:
                value = g(x)
            return value

        def prime_safe(x):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def safe(x):
            try:
                value = yield f.asynq(x)
            except KeyError:
                value = yield g.asynq(x)
            return value
        """,
        others=OTHERS,
    )


def test_comments_blank_lines_and_docstrings_are_preserved(assert_codemod):
    assert_codemod(
        '''
        """Module docstring."""

        # Leading comment.
        from app.models import f, prime_f


        # Describes h.
        def h(x):
            """Docstring of h."""
            # about y
            y = f(x)   # trailing comment

            return y  # done


        def prime_h(x):
            prime_f(x)
        ''',
        '''
        """Module docstring."""

        # Leading comment.
        from asynq import asynq

        from app.models import f


        # Describes h.
        @asynq()
        def h(x):
            """Docstring of h."""
            # about y
            y = yield f.asynq(x)   # trailing comment

            return y  # done
        ''',
        others=OTHERS,
    )


def test_a_kept_twin_still_calls_the_twin_of_a_converted_function(assert_codemod):
    result = assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def leaf(x):
            return f(x)

        def prime_leaf(x):
            prime_f(x)

        def stuck(x):
            with open("/dev/null"):
                a = leaf(x)
            return a

        def prime_stuck(x):
            prime_leaf(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g, prime_f

        @asynq()
        def leaf(x):
            return (yield f.asynq(x))

        def prime_leaf(x):
            prime_f(x)

        def stuck(x):
            with open("/dev/null"):
                a = leaf(x)
            return a

        def prime_stuck(x):
            prime_leaf(x)
        """,
        others=OTHERS,
    )
    assert [r.function for r in result.refusals] == ["stuck"]


def test_configured_prefix_and_decorator_names_are_recognised(assert_codemod):
    config = MigrateConfig(
        prime_prefix="warm_",
        cached_decorator="memoize",
        priming_module="warming",
        generator_decorator="gen",
    )
    assert_codemod(
        """
        from legacy import warming
        from app.store import client

        @client.memoize("u")
        def user(uid):
            return uid

        warm_user = user.prime

        def users(uids):
            return [user(u) for u in uids]

        @warming.gen
        def warm_users(uids):
            for u in uids:
                warm_user(u)
            yield
        """,
        """
        from asynq import asynq

        from app.store import client

        @client.memoize("u")
        def user(uid):
            return uid

        @asynq()
        def users(uids):
            return (yield [user.asynq(u) for u in uids])
        """,
        config=config,
    )


def test_functions_already_decorated_with_asynq_are_used_as_async_callees(assert_codemod):
    assert_codemod(
        """
        from asynq import asynq
        from app.models import f, prime_f

        @asynq()
        def done(x):
            return (yield f.asynq(x))

        def prime_done(x):
            prime_f(x)

        def h(x):
            return done(x) + f(x)

        def prime_h(x):
            prime_done(x)
            prime_f(x)
        """,
        """
        from asynq import asynq
        from app.models import f

        @asynq()
        def done(x):
            return (yield f.asynq(x))

        @asynq()
        def h(x):
            done_value, f_value = yield done.asynq(x), f.asynq(x)
            return done_value + f_value
        """,
        others=OTHERS,
    )


def test_independent_reads_inside_one_expression_are_hoisted_into_one_tuple_yield(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def total(x, f_value):
            # a comment
            if f(x) > g(x):
                return 0
            return f(x + 1) * 2 + g(len(str(x)))

        def prime_total(x, f_value):
            prime_f(x)
            prime_g(x)
            prime_f(x + 1)
            prime_g(len(str(x)))
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def total(x, f_value):
            # a comment
            f_value_2, g_value = yield f.asynq(x), g.asynq(x)
            if f_value_2 > g_value:
                return 0
            f_value_3, g_value_2 = yield f.asynq(x + 1), g.asynq(len(str(x)))
            return f_value_3 * 2 + g_value_2
        """,
        others=OTHERS,
    )


def test_reads_that_may_not_run_or_need_other_calls_first_stay_in_place_and_a_choice_becomes_an_if(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g

        def pick(x, flag):
            a = f(x) if flag else g(x)
            b = f(x) or g(x)
            c = f(compute(x)) + g(x)
            return a, b, c

        def prime_pick(x, flag):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g

        @asynq()
        def pick(x, flag):
            if flag:
                a = yield f.asynq(x)
            else:
                a = yield g.asynq(x)
            f_value = yield f.asynq(x)
            b = f_value or (yield g.asynq(x))
            c = (yield f.asynq(compute(x))) + (yield g.asynq(x))
            return a, b, c
        """,
        others=OTHERS,
    )


def test_deleted_twins_leave_dunder_all(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f

        __all__ = ["h", "prime_h"]

        def h(x):
            return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f

        __all__ = ["h"]

        @asynq()
        def h(x):
            return (yield f.asynq(x))
        """,
        others=OTHERS,
    )


def test_a_twin_imported_inside_a_view_function_is_kept_with_its_call(dedent):
    from asynq.migrate import migrate_sources

    view = dedent(
        """
        def page(x):
            from app.logic import h, prime_h
            prime_h(x)
            return h(x)
        """
    )
    result = migrate_sources(
        {
            "app/models.py": dedent(MODELS),
            "app/logic.py": dedent(
                """
                from app.models import f, prime_f

                def h(x):
                    return f(x)

                def prime_h(x):
                    prime_f(x)
                """
            ),
            "app/views.py": view,
        }
    )
    assert result.code["app/views.py"] == view
    logic = result.code["app/logic.py"]
    assert "@asynq()" in logic and "def prime_h(x):" in logic


def test_a_cached_function_imported_inside_the_function_is_read_with_a_yield(assert_codemod):
    assert_codemod(
        """
        def h(x):
            from app.models import f
            return f(x)

        def prime_h(x):
            from app.models import prime_f
            prime_f(x)
        """,
        """
        from asynq import asynq

        @asynq()
        def h(x):
            from app.models import f
            return (yield f.asynq(x))
        """,
        others=OTHERS,
    )


def test_a_twin_named_in_a_string_elsewhere_is_kept(dedent):
    from asynq.migrate import migrate_sources

    view = dedent(
        """
        from app import logic

        def page(x):
            getattr(logic, "prime_h")(x)
            return logic.h(x)
        """
    )
    result = migrate_sources(
        {
            "app/models.py": dedent(MODELS),
            "app/logic.py": dedent(
                """
                from app.models import f, prime_f

                def h(x):
                    return f(x)

                def prime_h(x):
                    prime_f(x)
                """
            ),
            "app/views.py": view,
        }
    )
    assert result.code["app/views.py"] == view
    logic = result.code["app/logic.py"]
    assert "@asynq()" in logic and "def prime_h(x):" in logic
    assert "prime_f = f.prime" in result.code["app/models.py"]


def test_names_from_a_star_import_are_followed(dedent):
    from asynq.migrate import migrate_sources

    view = dedent(
        """
        from app.logic import *

        def page(x):
            prime_h(x)
            prime_f(x)
            return h(x)
        """
    )
    result = migrate_sources(
        {
            "app/models.py": dedent(MODELS),
            "app/logic.py": dedent(
                """
                from app.models import f, prime_f

                def h(x):
                    return f(x)

                def prime_h(x):
                    prime_f(x)
                """
            ),
            "app/views.py": view,
        }
    )
    # The view stays legacy, so both priming calls stay, and the twin prime_h of the
    # converted h is found through the star import and kept.
    assert result.code["app/views.py"] == view
    assert [k.function for k in result.kept] == ["prime_h"]
    assert "prime_f = f.prime" in result.code["app/models.py"]
    assert "from app.models import f, prime_f" in result.code["app/logic.py"]


def test_removing_the_only_import_of_a_try_block_leaves_pass(assert_codemod):
    assert_codemod(
        """
        try:
            from asynq import priming
        except ImportError:
            pass
        from app.models import f, prime_f

        def h(x):
            return f(x)

        def prime_h(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        try:
            pass
        except ImportError:
            pass
        from app.models import f

        @asynq()
        def h(x):
            return (yield f.asynq(x))
        """,
        others=OTHERS,
    )


def test_priming_of_cached_functions_in_views_can_be_deleted_too_when_configured(
    assert_codemod,
):
    result = assert_codemod(
        """
        from app.models import f, prime_f

        def page(xs):
            for x in xs:
                prime_f(x)
            return [f(x) for x in xs]
        """,
        """
        from app.models import f

        def page(xs):
            return [f(x) for x in xs]
        """,
        path="app/views.py",
        others=OTHERS,
        config=MigrateConfig(delete_cached_priming=True),
    )
    assert "prime_f" not in result.code["app/models.py"]
    assert [n.function for n in result.notes] == ["page"]

"""Each value is fetched once: the same read (same callee, same arguments, same
comprehension) in one yield is fetched once and its name used wherever it was read."""

from __future__ import annotations

#: Cached functions used by the tests, in their own module.
MODELS = """
from asynq import priming
from app.cache import mc


@mc.cached("f")
def f(x):
    return {"name": str(x), "plan": x, "ids": [x], "a": x}


prime_f = f.prime


@mc.cached("g")
def g(x):
    return x * 2


prime_g = g.prime
"""
OTHERS = {"app/models.py": MODELS}


def test_the_same_read_twice_in_one_statement_is_fetched_once(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def usage(x):
            return {"name": f(x)["name"], "plan": f(x)["plan"], "n": g(x)}


        def prime_usage(x):
            prime_f(x)
            prime_g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def usage(x):
            f_value, g_value = yield f.asynq(x), g.asynq(x)
            return {"name": f_value["name"], "plan": f_value["plan"], "n": g_value}
        """,
        others=OTHERS,
    )


def test_the_same_comprehension_twice_is_one_batched_read_and_one_zip(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def questions(x):
            return [{"p": f(q)["name"], "n": f(q)["plan"]} for q in g(x)]


        def prime_questions(x):
            prime_g(x)
            for q in g(x):
                prime_f(q)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def questions(x):
            q_items = yield g.asynq(x)
            f_values = yield [f.asynq(q) for q in q_items]
            return [
                {"p": f_value["name"], "n": f_value["plan"]}
                for q, f_value in zip(q_items, f_values)
            ]
        """,
        others=OTHERS,
    )


def test_a_read_repeated_after_a_name_the_code_chose_uses_that_name(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def keep(x):
            row = f(x)
            return {"r": row, "t": f(x)["plan"]}


        def prime_keep(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def keep(x):
            row = yield f.asynq(x)
            return {"r": row, "t": row["plan"]}
        """,
        others=OTHERS,
    )


def test_reads_of_the_same_function_with_other_arguments_are_all_fetched(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def pair(x, y):
            return f(x)["a"] + f(y)["a"]


        def prime_pair(x, y):
            prime_f(x)
            prime_f(y)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def pair(x, y):
            f_value, f_value_2 = yield f.asynq(x), f.asynq(y)
            return f_value["a"] + f_value_2["a"]
        """,
        others=OTHERS,
    )


def test_a_merged_yield_lists_its_names_flat(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def flat(x):
            row = f(x)
            return g(x) + g(x + 1)


        def prime_flat(x):
            prime_f(x)
            prime_g(x)
            prime_g(x + 1)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def flat(x):
            row, g_value, g_value_2 = yield f.asynq(x), g.asynq(x), g.asynq(x + 1)
            return g_value + g_value_2
        """,
        others=OTHERS,
    )


def test_a_loop_over_fetched_values_names_each_value_in_its_header(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def rows(xs):
            out = []
            for x in xs:
                row = f(x)
                out.append(row["a"])
            return out


        def prime_rows(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def rows(xs):
            out = []
            f_values = yield [f.asynq(x) for x in xs]
            for x, row in zip(xs, f_values):
                out.append(row["a"])
            return out
        """,
        others=OTHERS,
    )


def test_a_value_renamed_later_in_the_loop_is_named_in_the_header_when_only_the_loop_uses_it(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, prime_f


        def cards(xs):
            out = []
            for x in xs:
                card = {"x": x}
                cheapest = f(x)
                card["plan"] = cheapest["plan"]
                out.append(card)
            return out


        def prime_cards(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def cards(xs):
            out = []
            f_values = yield [f.asynq(x) for x in xs]
            for x, cheapest in zip(xs, f_values):
                card = {"x": x}
                card["plan"] = cheapest["plan"]
                out.append(card)
            return out
        """,
        others=OTHERS,
    )


def test_a_value_renamed_later_in_the_loop_keeps_its_line_when_the_name_outlives_the_loop(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, prime_f


        def last(xs):
            cheapest = None
            for x in xs:
                print(x)
                cheapest = f(x)
                print(cheapest["plan"])
            return cheapest


        def prime_last(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def last(xs):
            cheapest = None
            f_values = yield [f.asynq(x) for x in xs]
            for x, f_value in zip(xs, f_values):
                print(x)
                cheapest = f_value
                print(cheapest["plan"])
            return cheapest
        """,
        others=OTHERS,
    )


def test_a_read_repeated_in_the_next_statements_uses_the_value_already_fetched(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def labels(x):
            name = f(x)["name"] + "!"
            plan = f(x)["plan"] * 2
            return name, plan


        def prime_labels(x):
            prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def labels(x):
            f_value = yield f.asynq(x)
            name = f_value["name"] + "!"
            plan = f_value["plan"] * 2
            return name, plan
        """,
        others=OTHERS,
    )


def test_a_read_repeated_after_a_call_or_a_new_argument_value_is_fetched_again(assert_codemod):
    # ``log(name)`` might change what ``f(x)`` returns; ``x`` is not the same ``x`` any more.
    assert_codemod(
        """
        from app.models import f, prime_f


        def labels(x):
            name = f(x)["name"]
            log(name)
            plan = f(x)["plan"]
            x = x + 1
            return name, plan, f(x)["plan"]


        def prime_labels(x):
            prime_f(x)
            prime_f(x + 1)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def labels(x):
            f_value = yield f.asynq(x)
            name = f_value["name"]
            log(name)
            f_value_2 = yield f.asynq(x)
            plan = f_value_2["plan"]
            x = x + 1
            f_value_3 = yield f.asynq(x)
            return name, plan, f_value_3["plan"]
        """,
        others=OTHERS,
    )


def test_a_loop_header_that_names_a_value_stays_one_name_and_one_list_per_line_when_long(
    assert_codemod,
):
    from asynq.migrate import MigrateConfig

    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def totals(followee_ids_of_the_user):
            out = []
            for followee_id in followee_ids_of_the_user:
                followee_row = f(followee_id)
                out.append(followee_row["a"] + g(followee_id))
            return out


        def prime_totals(followee_ids_of_the_user):
            for followee_id in followee_ids_of_the_user:
                prime_f(followee_id)
                prime_g(followee_id)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def totals(followee_ids_of_the_user):
            out = []
            (
                f_values,
                g_values,
            ) = yield (
                [
                    f.asynq(followee_id)
                    for followee_id in followee_ids_of_the_user
                ],
                [
                    g.asynq(followee_id)
                    for followee_id in followee_ids_of_the_user
                ],
            )
            for (
                followee_id,
                followee_row,
                g_value,
            ) in zip(
                followee_ids_of_the_user,
                f_values,
                g_values,
            ):
                out.append(followee_row["a"] + g_value)
            return out
        """,
        others=OTHERS,
        config=MigrateConfig(line_length=48),
    )


def test_a_zip_the_code_wrote_over_one_list_twice_is_left_as_written(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def pairs(ys):
            firsts = [f(y)["a"] for y in ys]
            seconds = [f(y)["plan"] + z for y, z in zip(ys, ys)]
            return firsts, seconds


        def prime_pairs(ys):
            for y in ys:
                prime_f(y)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def pairs(ys):
            f_values, f_values_2 = yield (
                [f.asynq(y) for y in ys],
                [f.asynq(y) for y, z in zip(ys, ys)],
            )
            firsts = [f_value["a"] for y, f_value in zip(ys, f_values)]
            seconds = [f_value_2["plan"] + z for y, z, f_value_2 in zip(ys, ys, f_values_2)]
            return firsts, seconds
        """,
        others=OTHERS,
    )

"""Output around staged reads: a read inside a harmless builtin of a comprehension's element
is read for every item first, and long rewritten lines are wrapped (the names of a merged
yield, a comprehension inside a statement over several lines)."""

from __future__ import annotations

from asynq.migrate import MigrateConfig

MODELS = """
from app.cache import mc


@mc.cached("f")
def f(x):
    return [x]


prime_f = f.prime


@mc.cached("scores")
def scores(x):
    return [x, x]


prime_scores = scores.prime
"""
OTHERS = {"app/models.py": MODELS}


def test_a_read_inside_a_builtin_of_the_element_is_read_for_every_item_first(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def sizes(xs):
            return [len(f(x)) for x in xs]


        def prime_sizes(xs):
            for x in xs:
                prime_f(x)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def sizes(xs):
            f_values = yield [f.asynq(x) for x in xs]
            return [len(f_value) for x, f_value in zip(xs, f_values)]
        """,
        others=OTHERS,
    )


def test_the_names_of_a_long_merged_yield_go_one_per_line(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f, prime_scores, scores


        def page(uid):
            first_of_the_values_read = f(uid)
            second_of_the_values_read = scores(uid + 1)
            third_of_the_values_read = f(uid + 2)
            return first_of_the_values_read, second_of_the_values_read, third_of_the_values_read


        def prime_page(uid):
            prime_f(uid)
            prime_scores(uid + 1)
            prime_f(uid + 2)
        """,
        """
        from asynq import asynq

        from app.models import f, scores


        @asynq()
        def page(uid):
            (
                first_of_the_values_read,
                second_of_the_values_read,
                third_of_the_values_read,
            ) = yield (
                f.asynq(uid),
                scores.asynq(uid + 1),
                f.asynq(uid + 2),
            )
            return first_of_the_values_read, second_of_the_values_read, third_of_the_values_read
        """,
        others=OTHERS,
        config=MigrateConfig(line_length=79),
    )


def test_a_long_comprehension_in_a_returned_dict_gets_its_for_on_a_line_of_its_own(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import prime_scores, scores


        def page(user_ids):
            return {
                "counts": {
                    uid: len(scores(uid)) for uid in user_ids
                },
                "total": sum(user_ids),
            }


        def prime_page(user_ids):
            for uid in user_ids:
                prime_scores(uid)
        """,
        """
        from asynq import asynq

        from app.models import scores


        @asynq()
        def page(user_ids):
            scores_values = yield [scores.asynq(uid) for uid in user_ids]
            return {
                "counts": {
                    uid: len(scores_value)
                    for uid, scores_value in zip(user_ids, scores_values)
                },
                "total": sum(user_ids),
            }
        """,
        others=OTHERS,
        config=MigrateConfig(line_length=72),
    )

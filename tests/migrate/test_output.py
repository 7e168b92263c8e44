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
            g_values = yield [g.asynq(r) for r in f_value]
            return sum(g_values)
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
            f_value = yield f.asynq(x)
            return f_value + len(os.sep) + len(attr.__name__)
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
            f_value = yield f.asynq(x)
            return f_value + helpers.size(os.sep)
        """,
        others=OTHERS,
    )


def test_a_long_line_names_the_value_it_reads_first(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def sentence(listing_id):
            row = f(listing_id)
            return "Your %d ticket(s) for the show called %s sold out" % (row, g(row + 1))


        def prime_sentence(listing_id):
            prime_f(listing_id)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def sentence(listing_id):
            row = yield f.asynq(listing_id)
            g_value = yield g.asynq(row + 1)
            return "Your %d ticket(s) for the show called %s sold out" % (row, g_value)
        """,
        others=OTHERS,
    )


def test_a_long_batched_yield_is_spread_over_lines_within_the_configured_length(
    assert_codemod,
):
    from asynq.migrate import MigrateConfig

    assert_codemod(
        """
        from app.models import f, prime_f


        def names(user_ids_of_the_people_who_liked_it):
            return [f(user_id) for user_id in user_ids_of_the_people_who_liked_it]


        def prime_names(user_ids_of_the_people_who_liked_it):
            for user_id in user_ids_of_the_people_who_liked_it:
                prime_f(user_id)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def names(user_ids_of_the_people_who_liked_it):
            return (yield [
                f.asynq(user_id) for user_id in user_ids_of_the_people_who_liked_it
            ])
        """,
        others=OTHERS,
        config=MigrateConfig(line_length=76),
    )


def test_a_read_in_the_next_statement_that_does_not_need_the_last_value_joins_its_yield(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def summary(uid):
            row = f(uid)
            return {"name": row, "books": len(str(g(uid)))}


        def prime_summary(uid):
            prime_f(uid)
            prime_g(uid)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def summary(uid):
            row, g_value = yield f.asynq(uid), g.asynq(uid)
            return {"name": row, "books": len(str(g_value))}
        """,
        others=OTHERS,
    )


def test_a_comprehension_condition_that_reads_becomes_two_phases(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def active(ids):
            return [g(i) for i in ids if f(i) > 2]


        def prime_active(ids):
            for i in ids:
                prime_f(i)
                prime_g(i)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def active(ids):
            f_values = yield [f.asynq(i) for i in ids]
            return (yield [g.asynq(i) for i, f_value in zip(ids, f_values) if f_value > 2])
        """,
        others=OTHERS,
    )


def test_reads_inside_a_larger_element_are_read_for_every_item_first(assert_codemod):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def labels(rows):
            return {r: str(f(r)) + "/" + str(g(r)) for r in rows.values()}


        def prime_labels(rows):
            for r in rows.values():
                prime_f(r)
                prime_g(r)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def labels(rows):
            r_items = list(rows.values())
            f_values, g_values = yield (
                [f.asynq(r) for r in r_items],
                [g.asynq(r) for r in r_items],
            )
            return {
                r: str(f_value) + "/" + str(g_value)
                for r, f_value, g_value in zip(r_items, f_values, g_values)
            }
        """,
        others=OTHERS,
    )


def test_reads_every_iteration_makes_are_made_for_every_item_before_the_loop(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def refs(uid):
            out = []
            for fid in f(uid):
                for rid in g(fid):
                    out.append(("r", rid))
                total = f(fid + 1)
                if total:
                    out.append(("s", total))
            return out


        def prime_refs(uid):
            prime_f(uid)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def refs(uid):
            out = []
            fid_items = yield f.asynq(uid)
            g_values, f_values = yield (
                [g.asynq(fid) for fid in fid_items],
                [f.asynq(fid + 1) for fid in fid_items],
            )
            for fid, g_value, total in zip(fid_items, g_values, f_values):
                for rid in g_value:
                    out.append(("r", rid))
                if total:
                    out.append(("s", total))
            return out
        """,
        others=OTHERS,
    )


def test_a_lambda_sort_key_that_reads_goes_through_a_dict_fetched_first(assert_codemod):
    assert_codemod(
        """
        from app.models import f, prime_f


        def top(aids):
            return max(aids, key=lambda aid: len(f(aid)))


        def newest_first(rows):
            rows.sort(key=lambda r: (-f(r["id"]), r["id"]))
            return rows


        def prime_top(aids):
            for aid in aids:
                prime_f(aid)


        def prime_newest_first(rows):
            for r in rows:
                prime_f(r["id"])
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def top(aids):
            f_values = yield {aid: f.asynq(aid) for aid in aids}
            return max(aids, key=lambda aid: len(f_values[aid]))


        @asynq()
        def newest_first(rows):
            f_values = yield {r["id"]: f.asynq(r["id"]) for r in rows}
            rows.sort(key=lambda r: (-f_values[r["id"]], r["id"]))
            return rows
        """,
        others=OTHERS,
    )


def test_items_that_may_be_a_one_shot_iterator_are_copied_before_being_read_twice(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, prime_f


        def positive(xs):
            ys = (x + 1 for x in xs)
            return [y for y in ys if f(y) > 0]


        def best(xs):
            ys = map(abs, xs)
            return max(ys, key=lambda y: f(y))


        def prime_positive(xs):
            for x in xs:
                prime_f(x + 1)


        def prime_best(xs):
            for x in xs:
                prime_f(abs(x))
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def positive(xs):
            ys = (x + 1 for x in xs)
            y_items = list(ys)
            f_values = yield [f.asynq(y) for y in y_items]
            return [y for y, f_value in zip(y_items, f_values) if f_value > 0]


        @asynq()
        def best(xs):
            ys = map(abs, xs)
            y_items = list(ys)
            f_values = yield {y: f.asynq(y) for y in y_items}
            return max(y_items, key=lambda y: f_values[y])
        """,
        others=OTHERS,
    )


def test_a_comprehension_with_a_plain_condition_filters_first_then_reads_the_rest(
    assert_codemod,
):
    assert_codemod(
        """
        from app.models import f, prime_f


        def prices(row, ids):
            return sorted(f(lid) + 1 for lid in ids if lid != row)


        def prime_prices(row, ids):
            for lid in ids:
                prime_f(lid)
        """,
        """
        from asynq import asynq

        from app.models import f


        @asynq()
        def prices(row, ids):
            lid_items = [lid for lid in ids if lid != row]
            f_values = yield [f.asynq(lid) for lid in lid_items]
            return sorted(f_value + 1 for lid, f_value in zip(lid_items, f_values))
        """,
        others=OTHERS,
    )


def test_a_long_loop_header_over_zipped_values_is_wrapped(assert_codemod):
    from asynq.migrate import MigrateConfig

    assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def totals(followee_ids_of_the_user):
            out = []
            for followee_id in followee_ids_of_the_user:
                out.append(f(followee_id) + g(followee_id))
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
            f_values, g_values = yield (
                [f.asynq(followee_id) for followee_id in followee_ids_of_the_user],
                [g.asynq(followee_id) for followee_id in followee_ids_of_the_user],
            )
            for followee_id, f_value, g_value in zip(
                followee_ids_of_the_user, f_values, g_values
            ):
                out.append(f_value + g_value)
            return out
        """,
        others=OTHERS,
        config=MigrateConfig(line_length=80),
    )

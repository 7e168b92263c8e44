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
        from asynq import asynq

        from app.models import f, prime_f
        from app.billing import BILLED


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
        import logging

        from app.models import f, prime_f


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
        import logging

        from asynq import asynq

        from app.models import f, prime_f


        @asynq()
        def h(x):
            return (yield f.asynq(x))


        def prime_h(x):
            logging.info("billable read of %s", x)
            prime_f(x)


        @asynq()
        def page(x):
            h_value = yield h.asynq(x)
            return h_value + 1
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
        from asynq import asynq

        from app.models import f


        @asynq()
        def h(xs):
            return (yield [f.asynq(x) for x in xs])
        """,
        others=OTHERS,
    )


def test_a_primed_method_is_converted_and_its_twin_kept_for_callers_that_prime_objects(
    assert_codemod,
):
    result = assert_codemod(
        """
        from app.logic import h, prime_h


        class Page:
            def render(self, xs):
                return [h(x) for x in xs]

            def prime_render(self, xs):
                for x in xs:
                    prime_h(x)

            @classmethod
            def first(cls, xs):
                return h(xs[0])

            @classmethod
            def prime_first(cls, xs):
                prime_h(xs[0])

            @staticmethod
            def total(xs):
                return sum(h(x) for x in xs)

            @staticmethod
            def prime_total(xs):
                for x in xs:
                    prime_h(x)
        """,
        """
        from asynq import asynq

        from app.logic import h, prime_h


        class Page:
            @asynq()
            def render(self, xs):
                return (yield [h.asynq(x) for x in xs])

            def prime_render(self, xs):
                for x in xs:
                    prime_h(x)

            @asynq()
            @classmethod
            def first(cls, xs):
                return (yield h.asynq(xs[0]))

            @classmethod
            def prime_first(cls, xs):
                prime_h(xs[0])

            @asynq()
            @staticmethod
            def total(xs):
                h_values = yield [h.asynq(x) for x in xs]
                return sum(h_values)

            @staticmethod
            def prime_total(xs):
                for x in xs:
                    prime_h(x)
        """,
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
            # Code that primes through objects keeps the twins' names in use.
            "app/warm.py": """
            from app.views import Page

            def warm(xs):
                Page().prime_render(xs)
                Page.prime_first(xs)
                Page.prime_total(xs)
            """,
        },
    )
    assert result.refusals == []
    assert sorted(name for path, name in result.converted if path == "app/views.py") == [
        "Page.first",
        "Page.render",
        "Page.total",
    ]
    assert sorted(k.function for k in result.kept if k.path == "app/views.py") == [
        "Page.prime_first",
        "Page.prime_render",
        "Page.prime_total",
    ]
    assert [k.function for k in result.kept if k.path == "app/logic.py"] == ["prime_h"]


def test_a_function_that_calls_itself_with_a_twin_that_does_not_is_left_working(assert_codemod):
    source = """
        from app.models import f, prime_f


        def depth(x):
            children = f(x)
            return 1 + max([depth(c) for c in children], default=0)


        def prime_depth(x):
            prime_f(x)
        """
    result = assert_codemod(source, source, others=OTHERS)
    (refusal,) = result.refusals
    assert (refusal.function, refusal.line) == ("depth", 6)
    assert refusal.reason == (
        "depth calls itself, but its twin prime_depth does not prime the calls it makes on "
        "itself (a priming function that calls itself), so there is no count of rounds per "
        "level to hold the converted recursion to: it could cost more round trips. It is left "
        "working as it is; convert it by hand (for example level by level, yielding the reads "
        "of a whole level together)."
    )


def test_a_twin_that_primes_through_an_object_method_keeps_its_function(assert_codemod):
    source = """
        from app.models import f, prime_f
        from app.things import Thing


        def page(x):
            return Thing(x).render() + f(x)


        def prime_page(x):
            prime_f(x)
            Thing(x).prime_render()
        """
    result = assert_codemod(source, source, others=OTHERS)
    assert [r.reason for r in result.refusals] == [
        "its twin prime_page calls Thing(x).prime_render, a priming method of an object, "
        "which the codemod does not follow; converting page would lose that batching. "
        "Convert it by hand, or prime through module-level twins, then rerun."
    ]
    local = """
        from app.models import f, prime_f
        from app.things import Thing


        def page(x):
            thing = Thing(x)
            return thing.render() + f(x)


        def prime_page(x):
            prime_f(x)
            thing = Thing(x)
            thing.prime_render()
        """
    result = assert_codemod(local, local, others=OTHERS)
    assert [r.reason for r in result.refusals] == [
        "its twin prime_page calls thing.prime_render, a priming method of an object, which "
        "the codemod does not follow; converting page would lose that batching. Convert it "
        "by hand, or prime through module-level twins, then rerun."
    ]


def test_every_priming_function_that_stays_is_reported_with_its_reason(assert_codemod):
    result = assert_codemod(
        """
        from app.models import f, prime_f


        def helper(x):
            return f(x)


        prime_helper = prime_f


        def prime_everything(xs):
            for x in xs:
                prime_f(x)


        class Batch:
            @classmethod
            def prime_many(cls, xs):
                prime_everything(xs)
        """,
        """
        from asynq import asynq

        from app.models import f, prime_f


        @asynq()
        def helper(x):
            return (yield f.asynq(x))


        def prime_everything(xs):
            for x in xs:
                prime_f(x)


        class Batch:
            @classmethod
            def prime_many(cls, xs):
                prime_everything(xs)
        """,
        others=OTHERS,
    )
    assert result.converted == [("app/m.py", "helper")]  # prime_helper = prime_f was its twin
    assert [(k.function, k.line, k.reason) for k in result.kept] == [
        (
            "prime_everything",
            11,
            "prime_everything is kept: it is a priming function with no function everything "
            "to convert, so the legacy code that calls it stays as it is.",
        ),
        (
            "Batch.prime_many",
            18,
            "Batch.prime_many is kept: it is a priming method with no method many to "
            "convert; methods stay as they are.",
        ),
    ]


def test_an_alias_twin_of_another_priming_function_that_stays_says_why(assert_codemod):
    source = """
        from app.models import f, prime_f

        prime_widget = prime_f
        """
    result = assert_codemod(source, source, others=OTHERS)
    assert [(k.function, k.reason) for k in result.kept] == [
        (
            "prime_widget",
            "prime_widget is kept: it is another name for the priming function prime_f, "
            "which the codemod does not pair with widget.",
        )
    ]


def test_a_helper_without_a_twin_is_converted_with_the_function_that_reads_it(
    assert_codemod,
):
    result = assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def label(x):
            return str(f(x)) + "!"


        def card(x):
            return {"label": label(x), "size": g(x)}


        def prime_card(x):
            prime_f(x)
            prime_g(x)


        def unused_helper(x):
            return g(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g


        @asynq()
        def label(x):
            f_value = yield f.asynq(x)
            return str(f_value) + "!"


        @asynq()
        def card(x):
            return (yield {"label": label.asynq(x), "size": g.asynq(x)})


        def unused_helper(x):
            return g(x)
        """,
        others=OTHERS,
    )
    assert sorted(result.converted) == [("app/m.py", "card"), ("app/m.py", "label")]
    assert result.refusals == []


def test_a_primed_property_delegates_to_a_new_asynq_method(assert_codemod):
    result = assert_codemod(
        """
        from app.models import f, prime_f


        class Book:
            def __init__(self, book_id):
                self.id = book_id

            @property
            def rating(self):
                \"\"\"The average rating.\"\"\"
                return f(self.id) / 2

            def prime_rating(self):
                prime_f(self.id)
        """,
        """
        from asynq import asynq

        from app.models import f


        class Book:
            def __init__(self, book_id):
                self.id = book_id

            @property
            def rating(self):
                \"\"\"The average rating.\"\"\"
                return self.get_rating()

            @asynq()
            def get_rating(self):
                \"\"\"The average rating.\"\"\"
                f_value = yield f.asynq(self.id)
                return f_value / 2
        """,
        others=OTHERS,
    )
    assert result.converted == [("app/m.py", "Book.rating")]
    # Nothing uses the name prime_rating any more: the twin goes, and the note says so.
    assert [(n.line, n.message) for n in result.notes] == [
        (
            13,
            "Deleted Book.prime_rating, the twin of Book.rating, which is converted: nothing "
            "left in the files being migrated uses the name prime_rating (no call, "
            "attribute, name or string mentions it).",
        )
    ]


def test_a_twin_may_prime_through_other_twins_and_priming_functions_of_no_function(
    assert_codemod,
):
    result = assert_codemod(
        """
        from app.models import f, g, prime_f, prime_g


        def name_of(x):
            return f(x)


        prime_name_of = prime_f


        def label(x):
            return str(f(x)) + str(g(x))


        prime_label = prime_name_of


        def prime_widgets(x):
            prime_f(x)
            prime_g(x)


        def page(x):
            return [f(x), g(x)]


        def prime_page(x):
            prime_widgets(x)
        """,
        """
        from asynq import asynq

        from app.models import f, g, prime_f, prime_g


        @asynq()
        def name_of(x):
            return (yield f.asynq(x))


        @asynq()
        def label(x):
            f_value, g_value = yield f.asynq(x), g.asynq(x)
            return str(f_value) + str(g_value)


        def prime_widgets(x):
            prime_f(x)
            prime_g(x)


        @asynq()
        def page(x):
            return (yield [f.asynq(x), g.asynq(x)])
        """,
        others=OTHERS,
    )
    assert sorted(name for _, name in result.converted) == ["label", "name_of", "page"]

"""Reads of converted properties through objects of a known class: ``self.row``,
``order.buyer_name`` (``order = Order(x)``) and ``Order(x).row`` become yields of the
property's ``@asynq()`` method in converted code, and count as reading the property."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.memcache.server import MemcachedServer
from asynq.migrate import migrate_sources
from tests.migrate.random_programs import run


@pytest.fixture(scope="module")
def server() -> Iterator[MemcachedServer]:
    with MemcachedServer() as running:
        yield running


BASE = """
from asynq import priming
from rtcache import mc


@mc.cached("order")
def order_row(x):
    return {"id": x, "buyer": x % 3, "total": x * 10}


@mc.cached("user")
def user_name(u):
    return "user-%d" % u


prime_order_row = order_row.prime
prime_user_name = user_name.prime


class Order:
    def __init__(self, order_id):
        self.id = order_id

    @property
    def row(self):
        return order_row(self.id)

    def prime_row(self):
        prime_order_row(self.id)

    @property
    def buyer_name(self):
        return user_name(self.row["buyer"])

    @priming.generator
    def prime_buyer_name(self):
        self.prime_row()
        yield
        prime_user_name(self.row["buyer"])

    @property
    def label(self):
        return "order %d" % self.id
"""

LOGIC = """
from asynq import priming
from rtbase import Order


def receipt(order_id):
    order = Order(order_id)
    return {"buyer": order.buyer_name, "total": order.row["total"], "label": order.label}


def prime_receipt(order_id):
    order = Order(order_id)
    order.prime_buyer_name()


def main(xs):
    for x in xs:
        prime_receipt(x)
    return [receipt(x) for x in xs]
"""


def _migrate():
    return migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtlogic.py": LOGIC.lstrip()})


def test_a_converted_method_reads_a_converted_property_of_self_with_a_yield():
    code = _migrate().code["rt/rtbase.py"]
    assert (
        "    @asynq()\n"
        "    def get_buyer_name(self):\n"
        "        get_row_value = yield self.get_row.asynq()\n"
        '        return (yield user_name.asynq(get_row_value["buyer"]))\n'
    ) in code


def test_a_function_reads_converted_properties_of_an_object_it_builds_in_one_yield():
    result = _migrate()
    assert ("rt/rtlogic.py", "receipt") in result.converted
    assert (
        "@asynq()\n"
        "def receipt(order_id):\n"
        "    order = Order(order_id)\n"
        "    get_buyer_name_value, get_row_value = yield (\n"
        "        order.get_buyer_name.asynq(),\n"
        "        order.get_row.asynq(),\n"
        "    )\n"
        "    return {\n"
        '        "buyer": get_buyer_name_value, "total": get_row_value["total"], "label": order.label\n'
        "    }\n"
    ) in result.code["rt/rtlogic.py"]


def test_a_property_that_is_not_converted_stays_a_plain_attribute_read():
    code = _migrate().code["rt/rtlogic.py"]
    assert '"label": order.label\n' in code
    assert "get_label" not in code


def test_a_method_whose_twin_primes_a_property_it_reads_through_self_lets_callers_convert():
    # Order.prime_buyer_name primes Order.row through self.prime_row(); Order.buyer_name
    # reads self.row, so reading Order.buyer_name keeps that batching.
    result = _migrate()
    assert not [r for r in result.refusals if r.function == "receipt"]


def test_an_attribute_assigned_to_is_never_read_as_a_property():
    base = BASE.replace(
        "    @property\n    def label(self):",
        "    def rename(self, row):\n        self.row = row\n\n    @property\n    def label(self):",
    )
    code = migrate_sources({"rt/rtbase.py": base.lstrip(), "rt/rtlogic.py": LOGIC.lstrip()})
    assert "        self.row = row\n" in code.code["rt/rtbase.py"]


def test_property_reads_keep_outputs_and_round_trips_cold_and_warm(server):
    result = _migrate()
    before = run(server.address, BASE.lstrip(), LOGIC.lstrip(), [1, 2, 3, 4])
    after = run(
        server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], [1, 2, 3, 4]
    )
    assert [value for value, _ in after] == [value for value, _ in before]
    for (_, trips_before), (_, trips_after) in zip(before, after, strict=True):
        assert trips_after <= trips_before


INLINE = """
from rtbase import Order, order_row, prime_order_row


def total(order_id):
    return Order(order_id).row["total"]


def prime_total(order_id):
    Order(order_id).prime_row()


def totals(order_ids):
    order = Order(order_ids[0])
    first = order_row(order_ids[0])
    return [order.row["total"] + first["id"] + order_id for order_id in order_ids]


def prime_totals(order_ids):
    prime_order_row(order_ids[0])
"""


def test_a_property_of_an_object_built_inline_is_read_with_a_yield():
    result = migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtinline.py": INLINE.lstrip()})
    assert "    return (yield Order(order_id).get_row.asynq())[\"total\"]\n" in (
        result.code["rt/rtinline.py"]
    )


def test_a_property_read_where_a_yield_cannot_go_stays_a_plain_attribute_read():
    # In a comprehension's larger element the read stays as it was (still correct: the
    # property calls its @asynq() method synchronously).
    result = migrate_sources({"rt/rtbase.py": BASE.lstrip(), "rt/rtinline.py": INLINE.lstrip()})
    code = result.code["rt/rtinline.py"]
    assert ("rt/rtinline.py", "totals") in result.converted
    assert "    first = yield order_row.asynq(order_ids[0])\n" in code
    assert (
        '    return [order.row["total"] + first["id"] + order_id for order_id in order_ids]\n'
    ) in code


HELPER_BASE = """
from asynq import priming
from rtcache import mc


@mc.cached("shelf")
def shelf_row(x):
    return {"id": x, "book_ids": [x * 10 + 1, x * 10 + 2], "name": "shelf %d" % x}


prime_shelf_row = shelf_row.prime


class Shelf:
    def __init__(self, shelf_id):
        self.id = shelf_id

    @property
    def book_ids(self):
        return shelf_row(self.id)["book_ids"]

    @property
    def name(self):
        return shelf_row(self.id)["name"]

    def books(self):
        return [book_id * 2 for book_id in self.book_ids]

    def prime_books(self):
        prime_shelf_row(self.id)
"""

HELPER_LOGIC = """
from rtbase import Shelf


def main(xs):
    for x in xs:
        Shelf(x).prime_books()
    return [(Shelf(x).books(), Shelf(x).name) for x in xs]
"""


def _migrate_helpers():
    return migrate_sources(
        {"rt/rtbase.py": HELPER_BASE.lstrip(), "rt/rtlogic.py": HELPER_LOGIC.lstrip()}
    )


def test_a_property_without_a_twin_that_converted_code_reads_becomes_a_helper():
    result = _migrate_helpers()
    assert ("rt/rtbase.py", "Shelf.books") in result.converted
    assert ("rt/rtbase.py", "Shelf.book_ids") in result.converted
    code = result.code["rt/rtbase.py"]
    assert (
        "    @property\n"
        "    def book_ids(self):\n"
        "        return self.get_book_ids()\n"
        "\n"
        "    @asynq()\n"
        "    def get_book_ids(self):\n"
        "        shelf_row_value = yield shelf_row.asynq(self.id)\n"
        '        return shelf_row_value["book_ids"]\n'
    ) in code
    assert (
        "        get_book_ids_value = yield self.get_book_ids.asynq()\n"
        "        return [book_id * 2 for book_id in get_book_ids_value]\n"
    ) in code


def test_a_property_without_a_twin_that_no_converted_code_reads_stays_as_it_is():
    code = _migrate_helpers().code["rt/rtbase.py"]
    assert '    @property\n    def name(self):\n        return shelf_row(self.id)["name"]\n' in code
    assert "get_name" not in code


def test_the_report_marks_a_converted_property_without_a_twin_as_a_helper(tmp_path):
    from asynq.migrate import MigrateConfig
    from asynq.migrate import run as run_files

    (tmp_path / "rt").mkdir()
    (tmp_path / "rt/rtbase.py").write_text(HELPER_BASE.lstrip())
    (tmp_path / "rt/rtlogic.py").write_text(HELPER_LOGIC.lstrip())
    report = run_files([str(tmp_path)], MigrateConfig(), jobs=1).report()
    helpers = {c["function"]: c["helper"] for c in report["converted"]}  # type: ignore[attr-defined]
    assert helpers == {"Shelf.book_ids": True, "Shelf.books": False}


def test_helper_properties_keep_outputs_and_round_trips_cold_and_warm(server):
    result = _migrate_helpers()
    again = migrate_sources(result.code)
    assert again.code == result.code
    before = run(server.address, HELPER_BASE.lstrip(), HELPER_LOGIC.lstrip(), [1, 2, 3])
    after = run(server.address, result.code["rt/rtbase.py"], result.code["rt/rtlogic.py"], [1, 2, 3])
    assert [value for value, _ in after] == [value for value, _ in before]
    for (_, trips_before), (_, trips_after) in zip(before, after, strict=True):
        assert trips_after <= trips_before

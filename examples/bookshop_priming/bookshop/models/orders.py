"""Orders: what a customer bought, and what it cost."""

from asynq import priming

from .. import audit, db
from ..cache import mc
from . import editions


@mc.cached("order.ids_of_user")
def order_ids_of_user(user_id):
    return [row["id"] for row in db.DB.query("orders", user_id=user_id)]


@mc.cached("order.row")
def order_row(order_id):
    return db.DB.get("orders", order_id)


prime_order_ids_of_user = order_ids_of_user.prime
prime_order_row = order_row.prime


class Order:
    def __init__(self, order_id):
        self.id = order_id

    def prime(self):
        prime_order_row(self.id)

    @property
    def status(self):
        return order_row(self.id)["status"]

    @property
    def placed(self):
        return order_row(self.id)["placed"]

    def lines(self):
        return [(editions.Edition(edition_id), quantity)
                for edition_id, quantity in order_row(self.id)["lines"]]

    @priming.generator
    def prime_lines(self):
        self.prime()
        yield
        for edition_id, _quantity in order_row(self.id)["lines"]:
            editions.Edition(edition_id).prime_book()

    @property
    def total_cents(self):
        return sum(editions.edition_row(edition_id)["price_cents"] * quantity
                   for edition_id, quantity in order_row(self.id)["lines"])

    def receipt(self):
        lines = []
        for edition, quantity in self.lines():
            book = edition.book
            lines.append({
                "title": book.title,
                "author": book.author.name,
                "edition": editions.Edition.price_label(edition.id),
                "quantity": quantity,
            })
        return {
            "id": self.id,
            "placed": self.placed,
            "status": self.status,
            "lines": lines,
            "total": editions.Edition.format_price(self.total_cents),
        }

    prime_receipt = prime_lines


def order_history(user_id):
    return [Order(order_id) for order_id in order_ids_of_user(user_id)]


@priming.generator
def prime_order_history(user_id):
    # Finance bills the order-history lookups of the partner shops per call; this function
    # runs once per page view, before anything is read, so the event is recorded here.
    audit.record("billing.order_history", user=user_id)
    prime_order_ids_of_user(user_id)
    yield
    for order_id in order_ids_of_user(user_id):
        Order(order_id).prime_lines()


def lifetime_spend_cents(user_id):
    total = 0
    for order in order_history(user_id):
        if order.status == "refunded":
            continue
        total += order.total_cents
    return total


@priming.generator
def prime_lifetime_spend_cents(user_id):
    prime_order_ids_of_user(user_id)
    yield
    for order_id in order_ids_of_user(user_id):
        prime_order_row(order_id)
    yield
    for order_id in order_ids_of_user(user_id):
        for edition_id, _quantity in order_row(order_id)["lines"]:
            editions.prime_edition_row(edition_id)

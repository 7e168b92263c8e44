"""Orders and refunds.

Refunds of one order form a chain: each partial refund points at the one before it, and the
order only knows its latest (support asked for the history to be immutable).
"""

from asynq import priming

from tickets import db, listings, users
from tickets.cache import mc


@mc.cached("orders.order")
def order(order_id):
    return db.fetch_order(order_id)


@mc.cached("orders.refund")
def refund(refund_id):
    return db.fetch_refund(refund_id)


@mc.cached("orders.last_refund_id")
def last_refund_id(order_id):
    return db.fetch_last_refund_id(order_id)


@mc.cached("orders.for_buyer")
def order_ids_for_buyer(buyer_id):
    return db.fetch_order_ids_for_buyer(buyer_id)


@mc.cached("orders.in_status", ttl=300)
def order_ids_in_status(status):
    return db.fetch_order_ids_in_status(status)


prime_order = order.prime
prime_refund = refund.prime
prime_last_refund_id = last_refund_id.prime
prime_order_ids_for_buyer = order_ids_for_buyer.prime
prime_order_ids_in_status = order_ids_in_status.prime


def refund_history(order_id):
    """Refunds of the order, oldest first."""
    history = []
    refund_id = last_refund_id(order_id)
    while refund_id is not None:
        r = refund(refund_id)
        history.append(r)
        refund_id = r["previous_id"]
    history.reverse()
    return history


@priming.generator
def prime_refund_history(order_id):
    prime_last_refund_id(order_id)
    yield
    refund_id = last_refund_id(order_id)
    while refund_id is not None:
        prime_refund(refund_id)
        yield
        refund_id = refund(refund_id)["previous_id"]


class Order(object):
    """What the orders API serializer works on; one per order row."""

    def __init__(self, order_id):
        self.id = order_id

    @property
    def row(self):
        return order(self.id)

    @property
    def buyer_name(self):
        return users.username(self.row["buyer_id"])

    def prime_row(self):
        prime_order(self.id)

    @classmethod
    def for_buyer(cls, buyer_id):
        return [cls(order_id) for order_id in order_ids_for_buyer(buyer_id)]

    @classmethod
    def prime_for_buyer(cls, buyer_id):
        prime_order_ids_for_buyer(buyer_id)

    def total_refunded(self):
        return sum(r["amount_cents"] for r in refund_history(self.id))

    def prime_total_refunded(self):
        prime_refund_history(self.id)

    def listing(self):
        return listings.listing_summary(self.row["listing_id"])

    @priming.generator
    def prime_listing(self):
        self.prime_row()
        yield
        listings.prime_listing_summary(self.row["listing_id"])

    def prime_all(self):
        """Everything to_json() reads."""
        self.prime_row()
        self.prime_listing()
        self.prime_total_refunded()

    @priming.generator
    def prime_buyer_name(self):
        self.prime_row()
        yield
        users.prime_username(self.row["buyer_id"])

    def to_json(self):
        row = self.row
        refunded = self.total_refunded()
        return {
            "id": self.id,
            "status": row["status"],
            "created": row["created"],
            "listing": self.listing(),
            "quantity": row["quantity"],
            "total": listings.format_cents(row["total_cents"]),
            "refunded": listings.format_cents(refunded),
            "net": listings.format_cents(row["total_cents"] - refunded),
        }

"""Listings: a seller offering some tickets in one row of one event, at a price."""

from asynq import priming

from tickets import db, events, users, venues
from tickets.cache import mc

SERVICE_FEE_PERCENT = 12
FEE_FLOOR_CENTS = 350


@mc.cached("listings.listing")
def listing(listing_id):
    return db.fetch_listing(listing_id)


@mc.cached("listings.for_event")
def listing_ids_for_event(event_id):
    return db.fetch_listing_ids_for_event(event_id)


@mc.cached("listings.for_seller")
def listing_ids_for_seller(seller_id):
    return db.fetch_listing_ids_for_seller(seller_id)


@mc.cached("listings.order_ids")
def order_ids_for_listing(listing_id):
    return db.fetch_order_ids_for_listing(listing_id)


prime_listing = listing.prime
prime_listing_ids_for_event = listing_ids_for_event.prime
prime_listing_ids_for_seller = listing_ids_for_seller.prime
prime_order_ids_for_listing = order_ids_for_listing.prime


def format_cents(cents):
    return "$%d.%02d" % (cents // 100, cents % 100)


class Listing(object):
    """Pricing rules; checkout and the listing pages both go through here."""

    @staticmethod
    def price_with_fees(listing_id):
        price = listing(listing_id)["price_cents"]
        return price + max(FEE_FLOOR_CENTS, price * SERVICE_FEE_PERCENT // 100)

    @staticmethod
    def prime_price_with_fees(listing_id):
        prime_listing(listing_id)

    @classmethod
    def cheapest_for_event(cls, event_id):
        ids = [lid for lid in listing_ids_for_event(event_id) if listing(lid)["status"] == "active"]
        if not ids:
            return None
        return min(ids, key=lambda lid: (cls.price_with_fees(lid), lid))

    @classmethod
    @priming.generator
    def prime_cheapest_for_event(cls, event_id):
        prime_listing_ids_for_event(event_id)
        yield
        for lid in listing_ids_for_event(event_id):
            cls.prime_price_with_fees(lid)


def listing_summary(listing_id):
    row = listing(listing_id)
    return {
        "id": listing_id,
        "event": events.event_title(row["event_id"]),
        "seat": venues.seat_label(row["row_id"]),
        "seller": users.display_name(row["seller_id"]),
        "quantity": row["quantity"],
        "price": format_cents(Listing.price_with_fees(listing_id)),
        "status": row["status"],
    }


@priming.generator
def prime_listing_summary(listing_id):
    prime_listing(listing_id)
    yield
    row = listing(listing_id)
    events.prime_event_title(row["event_id"])
    venues.prime_seat_label(row["row_id"])
    users.prime_display_name(row["seller_id"])


def resale_chain(listing_id):
    """The listing and the ones it was relisted from, newest first."""
    chain = []
    while listing_id is not None:
        row = listing(listing_id)
        chain.append(row)
        listing_id = row["relisted_from"]
    return chain


@priming.generator
def prime_resale_chain(listing_id):
    while listing_id is not None:
        prime_listing(listing_id)
        yield
        listing_id = listing(listing_id)["relisted_from"]


def change_price(listing_id, price_cents):
    db.update_listing_price(listing_id, price_cents)
    listing.dirty(listing_id)

"""The notification feed. Each kind has a renderer and the priming function for it, registered
below; the feed dispatches on the kind."""

from asynq import priming

from tickets import db, events, listings, orders, users
from tickets.cache import mc


@mc.cached("notifications.for_user", ttl=60)
def notifications_for_user(user_id):
    return db.fetch_notifications(user_id)


prime_notifications_for_user = notifications_for_user.prime


def render_order_confirmed(order_id):
    o = orders.order(order_id)
    return "Order #%d confirmed: %s" % (
        order_id,
        events.event_title(listings.listing(o["listing_id"])["event_id"]),
    )


@priming.generator
def prime_render_order_confirmed(order_id):
    orders.prime_order(order_id)
    yield
    listings.prime_listing(orders.order(order_id)["listing_id"])
    yield
    events.prime_event_title(listings.listing(orders.order(order_id)["listing_id"])["event_id"])


def render_price_drop(listing_id):
    row = listings.listing(listing_id)
    return "Price drop: %s now %s" % (
        events.event(row["event_id"])["name"],
        listings.format_cents(listings.Listing.price_with_fees(row["id"])),
    )


@priming.generator
def prime_render_price_drop(listing_id):
    listings.prime_listing(listing_id)
    yield
    events.prime_event(listings.listing(listing_id)["event_id"])


def render_event_reminder(event_id):
    return "Reminder: %s on %s" % (events.event_title(event_id), events.event(event_id)["date"])


prime_render_event_reminder = events.prime_event_title


def render_refund_issued(refund_id):
    r = orders.refund(refund_id)
    return "Refund of %s for order #%d (%s)" % (
        listings.format_cents(r["amount_cents"]), r["order_id"], r["reason"])


prime_render_refund_issued = orders.prime_refund


def render_new_follower(user_id):
    return "%s started following you" % users.username(user_id)


prime_render_new_follower = users.prime_username


def render_listing_sold(listing_id):
    row = listings.listing(listing_id)
    return "Your %d ticket(s) for %s sold" % (row["quantity"], events.event_title(row["event_id"]))


@priming.generator
def prime_render_listing_sold(listing_id):
    listings.prime_listing(listing_id)
    yield
    events.prime_event_title(listings.listing(listing_id)["event_id"])


RENDERERS = {
    "order_confirmed": render_order_confirmed,
    "price_drop": render_price_drop,
    "event_reminder": render_event_reminder,
    "refund_issued": render_refund_issued,
    "new_follower": render_new_follower,
    "listing_sold": render_listing_sold,
}

PRIMERS = {
    "order_confirmed": prime_render_order_confirmed,
    "price_drop": prime_render_price_drop,
    "event_reminder": prime_render_event_reminder,
    "refund_issued": prime_render_refund_issued,
    "new_follower": prime_render_new_follower,
    "listing_sold": prime_render_listing_sold,
}


def prime_notification(notification):
    primer = PRIMERS.get(notification["kind"])
    if primer is not None:
        primer(notification["target_id"])


def render_notification(notification):
    renderer = RENDERERS.get(notification["kind"])
    if renderer is None:
        return None
    return {"id": notification["id"], "text": renderer(notification["target_id"]),
            "unread": not notification["read"]}


@priming.generator
def prime_feed(user_id):
    prime_notifications_for_user(user_id)
    yield
    for notification in notifications_for_user(user_id):
        prime_notification(notification)

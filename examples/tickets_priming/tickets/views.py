"""The pages. Each prime_*_page twin primes everything its page reads, then the page reads with
plain calls (served from the request cache). Pages return plain data for the templates."""

from asynq import priming

from tickets import (
    comments,
    events,
    fraud,
    listings,
    metering,
    notifications,
    orders,
    users,
    venues,
    widgets,
)

# -- event page ------------------------------------------------------------------------------


@priming.generator
def prime_event_page(event_id):
    events.prime_event_card(event_id)
    listings.prime_listing_ids_for_event(event_id)
    comments.prime_top_comment_ids(event_id, limit=3)
    yield
    for comment_id in comments.top_comment_ids(event_id, limit=3):
        comments.prime_comment(comment_id)
    for listing_id in listings.listing_ids_for_event(event_id):
        listings.prime_listing_summary(listing_id)
    yield
    for listing_id in listings.listing_ids_for_event(event_id):
        if listings.listing(listing_id)["status"] == "active":
            venues.prime_level_of(listings.listing(listing_id)["row_id"])


def event_page(event_id):
    prime_event_page(event_id)
    card = events.event_card(event_id)
    listing_ids = listings.listing_ids_for_event(event_id)
    active = [
        listings.listing_summary(listing_id)
        for listing_id in listing_ids
        if listings.listing(listing_id)["status"] == "active"
    ]
    active.sort(key=lambda summary: (listings.Listing.price_with_fees(summary["id"]), summary["id"]))
    tickets_by_level = {}
    for listing_id in listing_ids:
        row = listings.listing(listing_id)
        if row["status"] != "active":
            continue
        level = venues.level_of(row["row_id"])
        tickets_by_level[level] = tickets_by_level.get(level, 0) + row["quantity"]
    return {
        "event": card,
        "listings": active,
        "tickets_by_level": tickets_by_level,
        "cheapest": listings.Listing.cheapest_for_event(event_id),
        "discussion_preview": [
            {"author_id": comments.comment(cid)["author_id"], "body": comments.comment(cid)["body"]}
            for cid in comments.top_comment_ids(event_id, limit=3)
        ],
    }


# -- seat map --------------------------------------------------------------------------------


@priming.generator
def prime_seat_map_page(venue_id):
    venues.prime_seat_map(venue_id)
    events.prime_event_ids_at_venue(venue_id)
    yield
    event_ids = events.event_ids_at_venue(venue_id)
    for event_id in event_ids:
        events.prime_is_on_sale(event_id)
        listings.prime_listing_ids_for_event(event_id)
    yield
    for event_id in event_ids:
        for listing_id in listings.listing_ids_for_event(event_id):
            listings.prime_listing(listing_id)


def seat_map_page(venue_id):
    prime_seat_map_page(venue_id)
    v = venues.venue(venue_id)
    event_ids = events.event_ids_at_venue(venue_id)
    rows = [
        listings.listing(listing_id)
        for event_id in event_ids
        if events.is_on_sale(event_id)
        for listing_id in listings.listing_ids_for_event(event_id)
    ]
    listed_rows = {}
    for row in rows:
        if row["status"] == "active":
            listed_rows[row["row_id"]] = listed_rows.get(row["row_id"], 0) + row["quantity"]
    return {
        "venue": v["name"],
        "city": v["city"],
        "capacity": v["capacity"],
        "events_on_sale": [eid for eid in event_ids if events.is_on_sale(eid)],
        "map": venues.seat_map_node(v["root_section_id"], listed_rows),
    }


# -- orders ----------------------------------------------------------------------------------


def order_page(order_id):
    o = orders.Order(order_id)
    o.prime_all()
    o.prime_buyer_name()
    fraud.prime_fraud_score(order_id)
    out = o.to_json()
    out["buyer"] = o.buyer_name
    out["refunds"] = [
        {"amount": listings.format_cents(r["amount_cents"]), "reason": r["reason"]}
        for r in orders.refund_history(order_id)
    ]
    out["needs_review"] = fraud.needs_review(order_id)
    return out


@priming.generator
def prime_my_orders_page(user_id):
    orders.Order.prime_for_buyer(user_id)
    users.prime_display_name(user_id)
    yield
    for o in orders.Order.for_buyer(user_id):
        o.prime_all()


def my_orders_page(user_id):
    prime_my_orders_page(user_id)
    mine = orders.Order.for_buyer(user_id)
    mine.sort(key=lambda o: (o.row["created"], o.id), reverse=True)
    spent = 0
    shown = []
    for o in mine:
        if o.row["status"] == "refunded" and not o.total_refunded():
            continue
        spent += o.row["total_cents"] - o.total_refunded()
        shown.append(o.to_json())
    return {
        "user": users.display_name(user_id),
        "orders": shown,
        "spent": listings.format_cents(spent),
    }


# -- sellers ---------------------------------------------------------------------------------


@priming.generator
def prime_seller_dashboard(seller_id):
    metering.audit("seller dashboard viewed: %d" % seller_id)
    users.prime_user(seller_id)
    listings.prime_listing_ids_for_seller(seller_id)
    yield
    for listing_id in listings.listing_ids_for_seller(seller_id):
        listings.prime_listing_summary(listing_id)
        listings.prime_order_ids_for_listing(listing_id)
    yield
    for listing_id in listings.listing_ids_for_seller(seller_id):
        for order_id in listings.order_ids_for_listing(listing_id):
            orders.prime_order(order_id)


def seller_dashboard_page(seller_id):
    prime_seller_dashboard(seller_id)
    sold = 0
    revenue = 0
    rows = []
    for listing_id in listings.listing_ids_for_seller(seller_id):
        summary = listings.listing_summary(listing_id)
        paid = [
            orders.order(order_id)
            for order_id in listings.order_ids_for_listing(listing_id)
            if orders.order(order_id)["status"] != "refunded"
        ]
        sold += sum(o["quantity"] for o in paid)
        revenue += sum(o["total_cents"] for o in paid)
        summary["orders"] = len(paid)
        rows.append(summary)
    return {
        "seller": users.display_name(seller_id),
        "listings": rows,
        "tickets_sold": sold,
        "revenue": listings.format_cents(revenue),
        "audit": metering.audit_lines(),
    }


@priming.generator
def prime_listing_history_page(listing_id):
    listings.prime_resale_chain(listing_id)
    yield
    for row in listings.resale_chain(listing_id):
        users.prime_display_name(row["seller_id"])
        listings.prime_order_ids_for_listing(row["id"])
    events.prime_event_title(listings.listing(listing_id)["event_id"])


def listing_history_page(listing_id):
    prime_listing_history_page(listing_id)
    chain = listings.resale_chain(listing_id)
    return {
        "event": events.event_title(chain[0]["event_id"]),
        "hops": len(chain) - 1,
        "history": [
            {
                "listing": row["id"],
                "seller": users.display_name(row["seller_id"]),
                "price": listings.format_cents(row["price_cents"]),
                "orders": listings.order_ids_for_listing(row["id"]),
            }
            for row in chain
        ],
    }


def change_price_page(listing_id, price_cents):
    """POST /listings/<id>/price, then the listing as the seller now sees it."""
    if listings.listing(listing_id)["status"] != "active":
        return {"error": "listing %d is not on sale" % listing_id}
    listings.change_price(listing_id, price_cents)
    listings.prime_listing_summary(listing_id)
    summary = listings.listing_summary(listing_id)
    return {"listing": summary, "price_cents": listings.listing(listing_id)["price_cents"]}


def checkout_page(listing_id, quantity, buyer_id):
    listings.prime_listing(listing_id)
    users.prime_user(buyer_id)
    row = listings.listing(listing_id)
    if row["status"] != "active":
        return {"error": "listing %d is no longer available" % listing_id}
    quantity = min(quantity, row["quantity"])
    page = widgets.render_widgets([
        widgets.EventWidget(row["event_id"]),
        widgets.SeatWidget(listing_id),
        widgets.SellerWidget(listing_id),
        widgets.PriceWidget(listing_id, quantity),
    ])
    page["buyer"] = users.display_name(buyer_id)
    page["verify_identity"] = users.is_new_account(buyer_id)
    return page


# -- trust and safety ------------------------------------------------------------------------


@priming.generator
def prime_fraud_queue_page():
    orders.prime_order_ids_in_status("review")
    yield
    for order_id in orders.order_ids_in_status("review"):
        fraud.prime_fraud_score(order_id)
        # scores live five minutes and expire together; without their inputs primed, a cold
        # queue computed them one order at a time
        fraud.prime_signals(order_id)
        orders.Order(order_id).prime_buyer_name()


def fraud_queue_page():
    prime_fraud_queue_page()
    queue = orders.order_ids_in_status("review")
    queue = sorted(queue, key=lambda order_id: (-fraud.fraud_score(order_id)["score"], order_id))
    top = queue[0] if queue else None
    if top is not None:
        fraud.prime_signals(top)
    return {
        "queue": [
            {
                "order": order_id,
                "buyer": orders.Order(order_id).buyer_name,
                "score": fraud.fraud_score(order_id)["score"],
                "reasons": fraud.fraud_score(order_id)["reasons"],
            }
            for order_id in queue
            if fraud.needs_review(order_id)
        ],
        "cleared": [order_id for order_id in queue if not fraud.needs_review(order_id)],
        "top_breakdown": fraud.signal_breakdown(top) if top is not None else None,
        "scores_billed": metering.count("risk.scores_viewed"),
    }


# -- people ----------------------------------------------------------------------------------


def notifications_page(user_id):
    notifications.prime_feed(user_id)
    users.prime_display_name(user_id)
    feed = [notifications.render_notification(n) for n in notifications.notifications_for_user(user_id)]
    feed = [item for item in feed if item is not None]
    return {
        "user": users.display_name(user_id),
        "unread": sum(1 for item in feed if item["unread"]),
        "feed": feed,
    }


@priming.generator
def prime_discussion_page(event_id):
    events.prime_event_title(event_id)
    comments.prime_top_comment_ids(event_id)
    yield
    for comment_id in comments.top_comment_ids(event_id):
        comments.prime_thread(comment_id)
        comments.prime_comment_count(comment_id)


def discussion_page(event_id):
    prime_discussion_page(event_id)
    threads = [comments.thread(comment_id) for comment_id in comments.top_comment_ids(event_id)]
    threads.sort(key=lambda t: (-t["votes"], t["id"]))
    return {
        "event": events.event_title(event_id),
        "threads": threads,
        "comments": sum(comments.comment_count(t["id"]) for t in threads),
    }


@priming.generator
def prime_performer_page(performer_id):
    p = events.Performer(performer_id)
    p.prime_to_json()
    p.prime_upcoming_event_ids()
    events.prime_event_ids_for_performer(performer_id)
    yield
    for event_id in events.event_ids_for_performer(performer_id):
        # every event, on sale or not: waiting for the statuses would cost a round trip
        events.prime_event_card(event_id)
        listings.Listing.prime_cheapest_for_event(event_id)


def performer_page(performer_id):
    prime_performer_page(performer_id)
    p = events.Performer(performer_id)
    upcoming = []
    for event_id in p.upcoming_event_ids():
        card = events.event_card(event_id)
        card["cheapest"] = listings.Listing.cheapest_for_event(event_id)
        upcoming.append(card)
    out = {"performer": p.to_json(), "upcoming": upcoming}
    if upcoming:
        venue_id = events.event(upcoming[0]["id"])["venue_id"]
        out["more_at_venue"] = len(events.event_ids_at_venue(venue_id)) - 1
    return out


@priming.generator
def prime_home_page(user_id):
    users.prime_display_name(user_id)
    users.prime_followed_performer_ids(user_id)
    notifications.prime_notifications_for_user(user_id)
    yield
    for performer_id in users.followed_performer_ids(user_id):
        events.Performer(performer_id).prime_name()
        events.prime_event_ids_for_performer(performer_id)
    yield
    for performer_id in users.followed_performer_ids(user_id):
        events.prime_event_cards(events.event_ids_for_performer(performer_id))


def home_page(user_id):
    prime_home_page(user_id)
    followed = [events.Performer(pid) for pid in users.followed_performer_ids(user_id)]
    event_ids = sorted({
        event_id
        for p in followed
        for event_id in events.event_ids_for_performer(p.id)
        if events.is_on_sale(event_id)
    })
    event_ids.sort(key=lambda event_id: events.event(event_id)["date"])
    return {
        "hello": users.display_name(user_id),
        "following": [p.name for p in followed],
        "upcoming": [events.event_card(event_id) for event_id in event_ids],
        "unread_notifications": len(
            [n for n in notifications.notifications_for_user(user_id) if not n["read"]]
        ),
    }


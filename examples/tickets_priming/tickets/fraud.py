"""The fraud-score pipeline: each signal looks at an order and adds points.

Orders scoring REVIEW_THRESHOLD or more wait in the review queue. Scores are cached for a few
minutes; each score shown to a reviewer is billed to us by the risk team's chargeback model, so
priming a score meters it.
"""

from asynq import priming

from tickets import listings, metering, orders, users
from tickets.cache import mc

REVIEW_THRESHOLD = 40


def _buyer_id(order_id):
    return orders.order(order_id)["buyer_id"]


def signal_new_account(order_id):
    age = users.user(_buyer_id(order_id))["account_age_days"]
    if age < 30:
        return 30
    if age < 120:
        return 15
    return 0


@priming.generator
def prime_signal_new_account(order_id):
    orders.prime_order(order_id)
    yield
    users.prime_user(_buyer_id(order_id))


def signal_velocity(order_id):
    count = users.order_count(_buyer_id(order_id))
    return 10 * max(0, count - 1)


@priming.generator
def prime_signal_velocity(order_id):
    orders.prime_order(order_id)
    yield
    users.prime_order_count(_buyer_id(order_id))


def signal_country_mismatch(order_id):
    o = orders.order(order_id)
    return 25 if o["card_country"] != users.user(o["buyer_id"])["country"] else 0


prime_signal_country_mismatch = prime_signal_new_account  # same rows


def signal_seller_rating(order_id):
    seller_id = listings.listing(orders.order(order_id)["listing_id"])["seller_id"]
    rating = users.user(seller_id)["rating"]
    return 15 if rating < 4.0 else 0


@priming.generator
def prime_signal_seller_rating(order_id):
    orders.prime_order(order_id)
    yield
    listing_id = orders.order(order_id)["listing_id"]
    listings.prime_listing(listing_id)
    yield
    users.prime_user(listings.listing(listing_id)["seller_id"])


def signal_price_anomaly(order_id):
    row = listings.listing(orders.order(order_id)["listing_id"])
    prices = sorted(
        listings.listing(lid)["price_cents"]
        for lid in listings.listing_ids_for_event(row["event_id"])
        if lid != row["id"]
    )
    if not prices:
        return 0
    median = prices[len(prices) // 2]
    return 20 if row["price_cents"] * 2 < median or row["price_cents"] > median * 3 // 2 else 0


@priming.generator
def prime_signal_price_anomaly(order_id):
    orders.prime_order(order_id)
    yield
    listing_id = orders.order(order_id)["listing_id"]
    listings.prime_listing(listing_id)
    yield
    event_id = listings.listing(listing_id)["event_id"]
    listings.prime_listing_ids_for_event(event_id)
    yield
    for lid in listings.listing_ids_for_event(event_id):
        listings.prime_listing(lid)


SIGNALS = {
    "new_account": signal_new_account,
    "velocity": signal_velocity,
    "country_mismatch": signal_country_mismatch,
    "seller_rating": signal_seller_rating,
    "price_anomaly": signal_price_anomaly,
}

SIGNAL_PRIMERS = {
    "new_account": prime_signal_new_account,
    "velocity": prime_signal_velocity,
    "country_mismatch": prime_signal_country_mismatch,
    "seller_rating": prime_signal_seller_rating,
    "price_anomaly": prime_signal_price_anomaly,
}


def prime_signals(order_id, names=None):
    for name in names or sorted(SIGNAL_PRIMERS):
        SIGNAL_PRIMERS[name](order_id)


def signal_breakdown(order_id):
    return {name: SIGNALS[name](order_id) for name in sorted(SIGNALS)}


@mc.cached("fraud.score", ttl=300)
def fraud_score(order_id):
    prime_signals(order_id)
    points = signal_breakdown(order_id)
    return {
        "order_id": order_id,
        "score": sum(points.values()),
        "reasons": [name for name in sorted(points) if points[name]],
    }


def prime_fraud_score(order_id):
    metering.record("risk.scores_viewed")
    metering.audit("fraud score shown for order %d" % order_id)
    fraud_score.prime(order_id)


def needs_review(order_id):
    return fraud_score(order_id)["score"] >= REVIEW_THRESHOLD

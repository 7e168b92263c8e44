"""The stand-in for MySQL: deterministic rows in dicts, and a counter of queries.

Every function here is one query. Model code never touches the tables directly; it calls these
from the bodies of cached functions, so a warm page makes no queries at all.
"""

QUERIES = {"count": 0}


def _query():
    QUERIES["count"] += 1


def query_count():
    return QUERIES["count"]


def reset_query_count():
    QUERIES["count"] = 0


CITIES = ["Austin", "Boston", "Chicago", "Denver"]
PERFORMER_NAMES = [
    "The Night Owls", "Marta Quell", "Brass Tacks", "DJ Lumen", "Sable & Ivy",
    "Oskar Brandt Trio", "Hollow Pines", "Kiki Armand", "The Second Act", "Noor Haddad",
]
USER_NAMES = [
    "alice", "bruno", "chen", "dara", "eli", "farah", "gus", "hana", "ivan", "jo",
    "kemal", "lena", "mo", "nina", "otto", "priya",
]

VENUES = {}
SECTIONS = {}
PERFORMERS = {}
EVENTS = {}
EVENT_PERFORMERS = {}
USERS = {}
LISTINGS = {}
ORDERS = {}
REFUNDS = {}
COMMENTS = {}
NOTIFICATIONS = {}
FOLLOWS = {}


def _build():
    # venues and their seat maps: venue -> levels -> sections -> rows
    sid = 100
    for vid in range(1, 5):
        root = sid
        SECTIONS[root] = {"id": root, "venue_id": vid, "parent_id": None, "name": "All seats",
                          "kind": "venue", "seats": 0}
        sid += 1
        VENUES[vid] = {"id": vid, "name": ["Riverside Hall", "The Foundry", "Union Arena",
                                           "Cedar Amphitheater"][vid - 1],
                       "city": CITIES[vid - 1], "root_section_id": root,
                       "capacity": 0}
        for level_no, level in enumerate(["Floor", "Lower", "Balcony"][: 2 + vid % 2]):
            level_id = sid
            sid += 1
            SECTIONS[level_id] = {"id": level_id, "venue_id": vid, "parent_id": root,
                                  "name": level, "kind": "level", "seats": 0}
            for n in range(1, 3 + (vid + level_no) % 2):
                section_id = sid
                sid += 1
                SECTIONS[section_id] = {"id": section_id, "venue_id": vid,
                                        "parent_id": level_id,
                                        "name": "%s %d" % (level, level_no * 100 + n),
                                        "kind": "section", "seats": 0}
                for row in "ABC"[: 2 + n % 2]:
                    row_id = sid
                    sid += 1
                    seats = 10 + (row_id % 7)
                    SECTIONS[row_id] = {"id": row_id, "venue_id": vid, "parent_id": section_id,
                                        "name": "Row " + row, "kind": "row", "seats": seats}
                    VENUES[vid]["capacity"] += seats
    for pid, name in enumerate(PERFORMER_NAMES, start=1):
        PERFORMERS[pid] = {"id": pid, "name": name,
                           "genre": ["rock", "jazz", "electronic", "folk"][pid % 4]}
    for uid, name in enumerate(USER_NAMES, start=1):
        USERS[uid] = {"id": uid, "username": name, "country": ["US", "US", "CA", "GB"][uid % 4],
                      "account_age_days": 12 + (uid * 37) % 900, "is_seller": uid % 3 == 0,
                      "rating": round(3.0 + (uid % 5) * 0.45, 2)}
    for eid in range(1, 11):
        EVENTS[eid] = {"id": eid, "name": "Tour stop %d" % eid, "venue_id": 1 + eid % 4,
                       "date": "2027-%02d-%02d" % (1 + eid % 12, 3 + eid * 2),
                       "status": "cancelled" if eid == 7 else "on_sale"}
        EVENT_PERFORMERS[eid] = [1 + (eid * 3) % 10, 1 + (eid * 7) % 10]
        if eid % 3 == 0 and 1 + (eid + 4) % 10 not in EVENT_PERFORMERS[eid]:
            EVENT_PERFORMERS[eid].append(1 + (eid + 4) % 10)
        if EVENT_PERFORMERS[eid][0] == EVENT_PERFORMERS[eid][1]:
            EVENT_PERFORMERS[eid].pop()
    rows_by_venue = {}
    for row in SECTIONS.values():
        if row["kind"] == "row":
            rows_by_venue.setdefault(row["venue_id"], []).append(row["id"])
    lid = 1000
    for eid, event in sorted(EVENTS.items()):
        rows = sorted(rows_by_venue[event["venue_id"]])
        for n in range(4):
            seller_id = 3 * (1 + (eid + n) % 5)
            LISTINGS[lid] = {"id": lid, "event_id": eid, "seller_id": seller_id,
                             "row_id": rows[(eid * 5 + n * 3) % len(rows)],
                             "price_cents": 4500 + ((eid * 1300 + n * 2700) % 9000),
                             "quantity": 1 + (eid + n) % 4, "status": "active",
                             "relisted_from": None}
            lid += 1
    # resales: a listing bought and put back on sale, sometimes twice
    for original, resale in [(1001, 1040), (1040, 1041), (1006, 1042), (1013, 1043)]:
        base = LISTINGS[original]
        LISTINGS[resale] = dict(base, id=resale, seller_id=3 * (1 + resale % 5),
                                price_cents=base["price_cents"] + 1500,
                                relisted_from=original)
        LISTINGS[original]["status"] = "sold"
    oid = 5000
    for n in range(18):
        listing = LISTINGS[1000 + (n * 7) % 44]
        buyer = 1 + (n * 5) % 16
        ORDERS[oid] = {"id": oid, "buyer_id": buyer, "listing_id": listing["id"],
                       "quantity": 1 + n % 2, "card_country": ["US", "CA", "NG", "US"][n % 4],
                       "total_cents": listing["price_cents"] * (1 + n % 2),
                       "status": ["paid", "paid", "review", "refunded", "paid", "review"][n % 6],
                       "created": "2026-11-%02d" % (1 + n)}
        oid += 1
    # refunds: a partial refund can be followed by another, each pointing at the one before
    REFUNDS[700] = {"id": 700, "order_id": 5003, "amount_cents": 2000, "reason": "obstructed view",
                    "previous_id": None}
    REFUNDS[701] = {"id": 701, "order_id": 5003, "amount_cents": 3000, "reason": "late entry",
                    "previous_id": 700}
    REFUNDS[702] = {"id": 702, "order_id": 5009, "amount_cents": ORDERS[5009]["total_cents"],
                    "reason": "event moved", "previous_id": None}
    REFUNDS[703] = {"id": 703, "order_id": 5015, "amount_cents": 1500, "reason": "duplicate fee",
                    "previous_id": None}
    # event discussion threads: for each comment, the index of its parent in the event's list
    threads = {1: [None, None, 0, 0, 2, 1, 4, 3],
               2: [None, 0, 0, 1, 3, None, 5, 4, 2],
               5: [None, None, 0, 1, 1, 3, 5, 4, None, 8]}
    cid = 9000
    for eid, parent_indexes in sorted(threads.items()):
        first = cid
        for parent_index in parent_indexes:
            COMMENTS[cid] = {"id": cid, "event_id": eid,
                             "parent_id": None if parent_index is None else first + parent_index,
                             "author_id": 1 + (cid * 3) % 16, "body": "comment %d" % cid,
                             "votes": (cid * 7) % 11 - 3}
            cid += 1
    kinds = ["order_confirmed", "price_drop", "event_reminder", "refund_issued", "new_follower",
             "listing_sold"]
    nid = 300
    for uid in range(1, 17):
        NOTIFICATIONS[uid] = []
        for n in range(2 + uid % 4):
            kind = kinds[(uid + n * 5) % len(kinds)]
            if kind == "order_confirmed":
                target = 5000 + (uid + n) % 18
            elif kind == "price_drop":
                target = 1000 + (uid * 3 + n) % 44
            elif kind == "event_reminder":
                target = 1 + (uid + n) % 10
            elif kind == "refund_issued":
                target = 700 + (uid + n) % 4
            elif kind == "new_follower":
                target = 1 + (uid * 5 + n) % 16
            else:
                target = 1000 + (uid + n * 11) % 44
            NOTIFICATIONS[uid].append({"id": nid, "user_id": uid, "kind": kind,
                                       "target_id": target, "read": n % 2 == 1})
            nid += 1
    for uid in range(1, 17):
        FOLLOWS[uid] = sorted({1 + (uid * 2) % 10, 1 + (uid + 5) % 10})


_build()


def fetch_venue(venue_id):
    _query()
    return dict(VENUES[venue_id])


def fetch_section(section_id):
    _query()
    return dict(SECTIONS[section_id])


def fetch_child_section_ids(section_id):
    _query()
    return sorted(s["id"] for s in SECTIONS.values() if s["parent_id"] == section_id)


def fetch_performer(performer_id):
    _query()
    return dict(PERFORMERS[performer_id])


def fetch_event(event_id):
    _query()
    return dict(EVENTS[event_id])


def fetch_event_performer_ids(event_id):
    _query()
    return list(EVENT_PERFORMERS[event_id])


def fetch_event_ids_for_performer(performer_id):
    _query()
    return sorted(eid for eid, pids in EVENT_PERFORMERS.items() if performer_id in pids)


def fetch_event_ids_at_venue(venue_id):
    _query()
    return sorted(eid for eid, row in EVENTS.items() if row["venue_id"] == venue_id)


def fetch_user(user_id):
    _query()
    return dict(USERS[user_id])


def fetch_followed_performer_ids(user_id):
    _query()
    return list(FOLLOWS.get(user_id, []))


def fetch_listing(listing_id):
    _query()
    return dict(LISTINGS[listing_id])


def fetch_listing_ids_for_event(event_id):
    _query()
    return sorted(lid for lid, row in LISTINGS.items() if row["event_id"] == event_id)


def fetch_listing_ids_for_seller(seller_id):
    _query()
    return sorted(lid for lid, row in LISTINGS.items() if row["seller_id"] == seller_id)


def update_listing_price(listing_id, price_cents):
    _query()
    LISTINGS[listing_id]["price_cents"] = price_cents


def fetch_order(order_id):
    _query()
    return dict(ORDERS[order_id])


def fetch_order_ids_for_buyer(buyer_id):
    _query()
    return sorted(oid for oid, row in ORDERS.items() if row["buyer_id"] == buyer_id)


def fetch_order_ids_for_listing(listing_id):
    _query()
    return sorted(oid for oid, row in ORDERS.items() if row["listing_id"] == listing_id)


def fetch_order_ids_in_status(status):
    _query()
    return sorted(oid for oid, row in ORDERS.items() if row["status"] == status)


def fetch_orders_by_buyer_count(buyer_id):
    _query()
    return sum(1 for row in ORDERS.values() if row["buyer_id"] == buyer_id)


def fetch_refund(refund_id):
    _query()
    return dict(REFUNDS[refund_id])


def fetch_last_refund_id(order_id):
    _query()
    ids = [rid for rid, row in REFUNDS.items() if row["order_id"] == order_id]
    return max(ids) if ids else None


def fetch_comment(comment_id):
    _query()
    return dict(COMMENTS[comment_id])


def fetch_reply_ids(comment_id):
    _query()
    return sorted(cid for cid, row in COMMENTS.items() if row["parent_id"] == comment_id)


def fetch_top_comment_ids(event_id):
    _query()
    return sorted(cid for cid, row in COMMENTS.items()
                  if row["event_id"] == event_id and row["parent_id"] is None)


def fetch_notifications(user_id):
    _query()
    return [dict(n) for n in NOTIFICATIONS.get(user_id, [])]

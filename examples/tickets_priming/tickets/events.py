"""Events and the performers on their lineups."""

from asynq import priming

from tickets import db, venues
from tickets.cache import mc


@mc.cached("events.event")
def event(event_id):
    return db.fetch_event(event_id)


@mc.cached("events.performer")
def performer(performer_id):
    return db.fetch_performer(performer_id)


@mc.cached("events.performer_ids")
def event_performer_ids(event_id):
    return db.fetch_event_performer_ids(event_id)


@mc.cached("events.for_performer")
def event_ids_for_performer(performer_id):
    return db.fetch_event_ids_for_performer(performer_id)


@mc.cached("events.at_venue")
def event_ids_at_venue(venue_id):
    return db.fetch_event_ids_at_venue(venue_id)


prime_event = event.prime
prime_event_ids_at_venue = event_ids_at_venue.prime
prime_performer = performer.prime
prime_event_performer_ids = event_performer_ids.prime
prime_event_ids_for_performer = event_ids_for_performer.prime


@mc.cached("events.lineup")
def lineup(event_id):
    """Performer names, headliner first."""
    performer_ids = event_performer_ids(event_id)
    for performer_id in performer_ids:
        prime_performer(performer_id)
    return [performer(performer_id)["name"] for performer_id in performer_ids]


prime_lineup = lineup.prime


def is_on_sale(event_id):
    return event(event_id)["status"] == "on_sale"


prime_is_on_sale = prime_event


def event_title(event_id):
    """"Tour stop 3 at The Foundry"."""
    e = event(event_id)
    return "%s at %s" % (e["name"], venues.venue_name(e["venue_id"]))


@priming.generator
def prime_event_title(event_id):
    prime_event(event_id)
    yield
    venues.prime_venue_name(event(event_id)["venue_id"])


def event_card(event_id):
    e = event(event_id)
    v = venues.venue(e["venue_id"])
    return {
        "id": event_id,
        "name": e["name"],
        "date": e["date"],
        "venue": v["name"],
        "city": v["city"],
        "lineup": lineup(event_id),
        "cancelled": e["status"] == "cancelled",
    }


@priming.generator
def prime_event_card(event_id):
    prime_event(event_id)
    prime_lineup(event_id)
    yield
    venues.prime_venue(event(event_id)["venue_id"])


def prime_event_cards(event_ids):
    for event_id in event_ids:
        prime_event_card(event_id)


class Performer(object):
    """The performer resource of the public API (the API framework wants an object per row)."""

    def __init__(self, performer_id):
        self.id = performer_id

    @property
    def name(self):
        return performer(self.id)["name"]

    def prime_name(self):
        prime_performer(self.id)

    def upcoming_event_ids(self):
        return [eid for eid in event_ids_for_performer(self.id) if is_on_sale(eid)]

    @priming.generator
    def prime_upcoming_event_ids(self):
        prime_event_ids_for_performer(self.id)
        yield
        for eid in event_ids_for_performer(self.id):
            prime_is_on_sale(eid)

    def to_json(self):
        p = performer(self.id)
        return {"id": self.id, "name": p["name"], "genre": p["genre"]}

    def prime_to_json(self):
        prime_performer(self.id)

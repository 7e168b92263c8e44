"""Venues and their seat maps.

A seat map is a tree of sections: the venue's root ("All seats"), levels ("Floor", "Balcony"),
sections ("Lower 101") and rows ("Row B"). Listings point at rows.
"""

from asynq import priming

from tickets import db
from tickets.cache import mc


@mc.cached("venues.venue")
def venue(venue_id):
    return db.fetch_venue(venue_id)


@mc.cached("venues.section")
def section(section_id):
    return db.fetch_section(section_id)


@mc.cached("venues.children")
def child_section_ids(section_id):
    return db.fetch_child_section_ids(section_id)


prime_venue = venue.prime
prime_section = section.prime
prime_child_section_ids = child_section_ids.prime


def venue_name(venue_id):
    return venue(venue_id)["name"]


def prime_venue_name(venue_id):
    prime_venue(venue_id)


@mc.cached("venues.section_path")
def section_path(section_id):
    """Names from the venue down to this section, e.g. ["Union Arena", "Lower", "Lower 101"]."""
    names = []
    while section_id is not None:
        s = section(section_id)
        if s["kind"] == "venue":
            names.append(venue(s["venue_id"])["name"])
        else:
            names.append(s["name"])
        section_id = s["parent_id"]
    names.reverse()
    return names


prime_section_path = section_path.prime


def seat_label(row_id):
    """"Lower / Lower 101 / Row B": what we print on the ticket (no venue name)."""
    return " / ".join(section_path(row_id)[1:])


def prime_seat_label(row_id):
    prime_section_path(row_id)


@priming.generator
def prime_section_ancestors(section_id):
    """For code that needs the section rows themselves, not just the names."""
    while section_id is not None:
        prime_section(section_id)
        yield
        section_id = section(section_id)["parent_id"]


@mc.cached("venues.level")
def level_of(section_id):
    """The level ("Floor", "Balcony") a section or row belongs to."""
    prime_section_ancestors(section_id)
    s = section(section_id)
    while s["kind"] not in ("level", "venue"):
        s = section(s["parent_id"])
    return s["name"]


prime_level_of = level_of.prime


@priming.generator
def prime_seat_map(venue_id):
    """The whole tree, one level per round trip."""
    prime_venue(venue_id)
    yield
    frontier = [venue(venue_id)["root_section_id"]]
    while frontier:
        for section_id in frontier:
            prime_section(section_id)
            prime_child_section_ids(section_id)
        yield
        frontier = [child for section_id in frontier for child in child_section_ids(section_id)]


def seat_map_node(section_id, listed_rows):
    s = section(section_id)
    node = {"name": s["name"], "kind": s["kind"]}
    children = [seat_map_node(child, listed_rows) for child in child_section_ids(section_id)]
    if children:
        node["children"] = children
        node["seats"] = sum(child["seats"] for child in children)
        node["listed"] = sum(child["listed"] for child in children)
    else:
        node["seats"] = s["seats"]
        node["listed"] = listed_rows.get(section_id, 0)
    return node

"""The widget framework of the checkout flow: a page is a list of widgets; the framework primes
every widget, then renders them, so all their reads share round trips. Widgets must implement
both prime() and render()."""

from asynq import priming

from tickets import events, listings, users, venues


class Widget(object):
    name = None

    def prime(self):
        raise NotImplementedError("%s must prime what it renders" % type(self).__name__)

    def render(self):
        raise NotImplementedError


def render_widgets(widgets):
    for widget in widgets:
        widget.prime()
    return {widget.name: widget.render() for widget in widgets}


class EventWidget(Widget):
    name = "event"

    def __init__(self, event_id):
        self.event_id = event_id

    def prime(self):
        events.prime_event_card(self.event_id)

    def render(self):
        return events.event_card(self.event_id)


class SellerWidget(Widget):
    name = "seller"
    BADGES = ((4.5, "top seller"), (4.0, "trusted"), (0.0, None))

    def __init__(self, listing_id):
        self.listing_id = listing_id

    @staticmethod
    def badge_for(seller_id):
        rating = users.user(seller_id)["rating"]
        for floor, badge in SellerWidget.BADGES:
            if rating >= floor:
                return badge
        return None

    @staticmethod
    def prime_badge_for(seller_id):
        users.prime_user(seller_id)

    @priming.generator
    def prime(self):
        listings.prime_listing(self.listing_id)
        yield
        seller_id = listings.listing(self.listing_id)["seller_id"]
        self.prime_badge_for(seller_id)
        listings.prime_listing_ids_for_seller(seller_id)

    def render(self):
        seller_id = listings.listing(self.listing_id)["seller_id"]
        return {
            "name": users.username(seller_id),
            "badge": self.badge_for(seller_id),
            "listings": len(listings.listing_ids_for_seller(seller_id)),
        }


class SeatWidget(Widget):
    name = "seat"

    def __init__(self, listing_id):
        self.listing_id = listing_id

    @property
    def row_id(self):
        return listings.listing(self.listing_id)["row_id"]

    @priming.generator
    def prime(self):
        listings.prime_listing(self.listing_id)
        yield
        venues.prime_seat_label(self.row_id)
        venues.prime_section(self.row_id)

    def render(self):
        return {"label": venues.seat_label(self.row_id),
                "seats_in_row": venues.section(self.row_id)["seats"]}


class PriceWidget(Widget):
    name = "price"
    TAX_PERCENT = {"Austin": 8, "Boston": 6, "Chicago": 10, "Denver": 4}

    def __init__(self, listing_id, quantity):
        self.listing_id = listing_id
        self.quantity = quantity

    @staticmethod
    def tax_percent(event_id):
        city = venues.venue(events.event(event_id)["venue_id"])["city"]
        return PriceWidget.TAX_PERCENT.get(city, 0)

    @staticmethod
    @priming.generator
    def prime_tax_percent(event_id):
        events.prime_event(event_id)
        yield
        venues.prime_venue(events.event(event_id)["venue_id"])

    @priming.generator
    def prime(self):
        listings.Listing.prime_price_with_fees(self.listing_id)
        yield
        self.prime_tax_percent(listings.listing(self.listing_id)["event_id"])

    def render(self):
        unit = listings.Listing.price_with_fees(self.listing_id)
        subtotal = unit * self.quantity
        tax = subtotal * self.tax_percent(listings.listing(self.listing_id)["event_id"]) // 100
        return {
            "unit": listings.format_cents(unit),
            "quantity": self.quantity,
            "tax": listings.format_cents(tax),
            "total": listings.format_cents(subtotal + tax),
        }

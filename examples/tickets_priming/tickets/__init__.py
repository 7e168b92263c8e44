"""The ticket marketplace: model modules (venues, events, listings, orders, fraud,
notifications, comments), the pages in `views`, and a fake database in `db`."""

from tickets.cache import mc, request  # noqa: F401

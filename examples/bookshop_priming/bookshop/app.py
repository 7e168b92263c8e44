"""Request handling: the routes and what wraps every request."""

from asynq import priming

from . import audit, pages
from .cache import mc

ROUTES = {
    "book": pages.book_page,
    "author": pages.author_page,
    "shelves": pages.shelves_page,
    "review": pages.review_page,
    "profile": pages.profile_page,
    "feed": pages.feed_page,
    "recommendations": pages.recommendations_page,
    "orders": pages.orders_page,
    "genre": pages.genre_page,
    "staff": pages.staff_dashboard_page,
    "rate": pages.rate_book_page,
}


def handle(route, *args):
    """Serve one request: its own cache scope and audit trail, whatever happens."""
    view = ROUTES[route]
    audit.start_request()
    try:
        with mc.request():
            try:
                return view(*args)
            finally:
                priming.end_request()
    finally:
        audit.end_request()

"""Model objects. Each module caches its rows with ``@mc.cached`` and offers ``prime_*`` twins:
call the twin first (it records what the plain call will read), then the plain call."""

from . import authors, books, editions, orders, reviews, shelves, social, users  # noqa: F401

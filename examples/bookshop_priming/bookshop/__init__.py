"""A bookshop and reading-community site on memcached, batched with priming."""

from . import app, db, pages  # noqa: F401
from .app import ROUTES, handle  # noqa: F401
from .cache import mc  # noqa: F401

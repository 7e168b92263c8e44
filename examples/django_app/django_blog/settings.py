"""Settings of the example: no database, one view, asynq's middleware."""

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "django_blog.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    # Every HTTP request: one request-local cache per client below, write-backs sent at the end.
    "asynq.web.DjangoMiddleware",
]
ASYNQ_MEMCACHE_CLIENTS = ["django_blog.models.mc"]

"""examples/django_app through django.test.Client, against a real memcached: one request scope
per HTTP request (asynq.web.DjangoMiddleware), one multi-get per level of the page."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import django
import pytest
from django.test import Client, override_settings

from asynq.memcache import MemcacheClient

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_blog.settings")
django.setup()

from django_blog import models  # noqa: E402 - after django.setup()

URL = "/answers?ids=10,11&viewer=1"
PAGE_KEYS = [
    ["django-blog:upvoters_of_answer:10", "django-blog:upvoters_of_answer:11"],
    ["django-blog:name_of_user:1", "django-blog:name_of_user:2", "django-blog:name_of_user:3"],
]


@pytest.fixture
def mc(retarget_client: Callable[[MemcacheClient], MemcacheClient]) -> MemcacheClient:
    models.DB_READS.clear()
    return retarget_client(models.mc)


def test_a_cold_request_computes_each_value_once_and_writes_it_back(mc: MemcacheClient) -> None:
    response = Client().get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Hello, Ada." in text
    assert "Answer 10, upvoted by Ada, Alan" in text
    assert "Answer 11, upvoted by Alan, Grace" in text
    assert models.DB_READS == {"upvoters": 2, "users": 3}
    assert mc.get("name_of_user:3") == "Grace"  # written back when the request ended


def test_when_a_request_ends_memcached_has_applied_its_write_backs(mc: MemcacheClient) -> None:
    assert Client().get(URL).status_code == 200
    # Nothing left in flight on the request's connection: the next request, on any thread or
    # process, finds the values rather than the lease placeholders.
    assert mc.pool.unconfirmed_writes() == {}


def test_a_warm_request_is_two_round_trips_the_viewer_served_by_the_request_cache(
    mc: MemcacheClient, round_trips: Any
) -> None:
    client = Client()
    client.get(URL)
    for _ in range(2):
        with round_trips(mc, exactly=2, keys=PAGE_KEYS):
            assert client.get(URL).status_code == 200
    assert models.DB_READS == {"upvoters": 2, "users": 3}


def test_without_the_middleware_the_viewer_costs_a_round_trip_of_its_own(
    mc: MemcacheClient, round_trips: Any
) -> None:
    with override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"]):
        client = Client()
        client.get(URL)
        with round_trips(mc, exactly=3) as rt:
            client.get(URL)
    assert rt.keys[2] == ["django-blog:name_of_user:1"]


def test_the_middleware_without_its_setting_says_what_to_add() -> None:
    from asynq.web import DjangoMiddleware

    with override_settings(ASYNQ_MEMCACHE_CLIENTS=None):
        with pytest.raises(TypeError) as error:
            DjangoMiddleware(lambda request: None)
    assert str(error.value) == (
        "asynq.web.DjangoMiddleware needs the setting ASYNQ_MEMCACHE_CLIENTS: a list of your "
        'MemcacheClient objects or dotted paths to them, e.g. ASYNQ_MEMCACHE_CLIENTS = '
        '["myapp.models.mc"]; got None'
    )


def test_the_middleware_refuses_a_setting_that_names_something_else() -> None:
    from asynq.web import DjangoMiddleware

    with override_settings(ASYNQ_MEMCACHE_CLIENTS=["django_blog.models.USERS"]):
        with pytest.raises(TypeError) as error:
            DjangoMiddleware(lambda request: None)
    assert str(error.value) == (
        "DjangoMiddleware expects asynq.memcache.MemcacheClient objects, got dict: "
        "{1: 'Ada', 2: 'Alan', 3: 'Grace'}; pass the client your @mc.cached functions use"
    )

"""examples/flask_app through Flask's test client, against a real memcached: one request scope
per HTTP request, one multi-get per level of the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask_blog import models
from flask_blog.app import create_app

from asynq.memcache import MemcacheClient

URL = "/answers?ids=10,11&viewer=1"
PAGE_KEYS = [
    ["flask-blog:upvoters_of_answer:10", "flask-blog:upvoters_of_answer:11"],
    ["flask-blog:name_of_user:1", "flask-blog:name_of_user:2", "flask-blog:name_of_user:3"],
]


@pytest.fixture
def mc(retarget_client: Callable[[MemcacheClient], MemcacheClient]) -> MemcacheClient:
    models.DB_READS.clear()
    return retarget_client(models.mc)


def test_a_cold_request_computes_each_value_once_and_writes_it_back(mc: MemcacheClient) -> None:
    client = create_app().test_client()
    response = client.get(URL)
    assert response.status_code == 200
    assert "Hello, Ada." in response.text
    assert "Answer 10, upvoted by Ada, Alan" in response.text
    assert "Answer 11, upvoted by Alan, Grace" in response.text
    assert models.DB_READS == {"upvoters": 2, "users": 3}
    assert mc.get("name_of_user:3") == "Grace"  # written back when the request ended


def test_a_warm_request_is_two_round_trips_the_viewer_served_by_the_request_cache(
    mc: MemcacheClient, round_trips: Any
) -> None:
    client = create_app().test_client()
    client.get(URL)
    for _ in range(2):
        with round_trips(mc, exactly=2, keys=PAGE_KEYS):
            assert client.get(URL).status_code == 200
    assert models.DB_READS == {"upvoters": 2, "users": 3}


def test_without_the_middleware_the_viewer_costs_a_round_trip_of_its_own(
    mc: MemcacheClient, round_trips: Any
) -> None:
    client = create_app(middleware=False).test_client()
    client.get(URL)
    with round_trips(mc, exactly=3) as rt:
        client.get(URL)
    assert rt.keys[2] == ["flask-blog:name_of_user:1"]


def test_each_request_has_its_own_cache(mc: MemcacheClient) -> None:
    client = create_app().test_client()
    client.get(URL)
    models.name_of_user.dirty(2)  # the data changed between two requests
    models.USERS[2] = "Alan T."
    try:
        assert "upvoted by Ada, Alan T." in client.get(URL).text
    finally:
        models.USERS[2] = "Alan"

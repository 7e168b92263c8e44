"""Entry point: three requests; prints results, memcached round trips and DB queries."""

import json

import db
import views
from cache import mc


def run():
    results = {}
    with mc.request():
        results["answers"] = views.answers_view([1, 2, 3, 4])
    with mc.request():
        results["top"] = views.top_view([1, 2, 3, 4])
    with mc.request():
        results["names"] = views.names_view([3, 5, 8, 13])
    return results


def main():
    mc.stats.reset()
    results = run()
    print(
        json.dumps(
            {
                "results": results,
                "round_trips": mc.stats.round_trips,
                "db_queries": db.QUERIES["count"],
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()

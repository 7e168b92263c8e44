"""A fake database: deterministic rows, and a count of the queries made."""

QUERIES = {"count": 0}

NAMES = ["ada", "grace", "alan", "barbara", "edsger", "donald", "frances", "ken"]


def query(table, key):
    """One database query (counted)."""
    QUERIES["count"] += 1
    if table == "user":
        return {"name": NAMES[key % len(NAMES)], "followers": list(range(key % 5))}
    if table == "answer":
        return {"text": f"answer number {key}", "upvoters": [key, key + 1, key * 2 % 7]}
    raise KeyError(table)

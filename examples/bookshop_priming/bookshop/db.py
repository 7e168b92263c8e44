"""The fake database behind the bookshop.

Stands in for MySQL in development and in the page tests: the same tables, generated from a
fixed seed, so every process sees the same books, users and orders. Every read goes through
``query()``, which counts, so that a page's cost in database queries can be measured.
"""

import random

FORMATS = ["hardcover", "paperback", "ebook", "audiobook"]
COUNTRIES = ["GB", "US", "FR", "NG", "JP", "AR", "IE", "CA"]
GENRES = {
    # slug: (name, parent slug)
    "books": ("Books", None),
    "fiction": ("Fiction", "books"),
    "nonfiction": ("Non-fiction", "books"),
    "scifi": ("Science Fiction", "fiction"),
    "space-opera": ("Space Opera", "scifi"),
    "cyberpunk": ("Cyberpunk", "scifi"),
    "crime": ("Crime", "fiction"),
    "cosy-crime": ("Cosy Crime", "crime"),
    "literary": ("Literary Fiction", "fiction"),
    "history": ("History", "nonfiction"),
    "science": ("Popular Science", "nonfiction"),
    "cooking": ("Cooking", "nonfiction"),
}
LEAF_GENRES = ["space-opera", "cyberpunk", "cosy-crime", "literary", "history", "science",
               "cooking", "crime", "scifi"]
FIRST = ["Ada", "Bram", "Chidi", "Dora", "Emeka", "Fumiko", "Greta", "Hal", "Ines", "Jun",
         "Kofi", "Lena", "Mateo", "Nia", "Oskar", "Priya", "Quinn", "Rosa", "Sami", "Tove"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Byrne", "Alvarez", "Hughes", "Mensah",
        "Novak", "Sato", "Kerr", "Duarte"]
WORDS = ["Night", "Garden", "Machine", "River", "Glass", "Winter", "Archive", "Harbour",
         "Signal", "Orchard", "Lantern", "Empire", "Salt", "Clockwork", "Meridian", "Ash"]


class FakeDatabase:
    """Tables as dicts of rows. ``queries`` counts every read since the last reset."""

    def __init__(self, seed=1983):
        self.queries = 0
        self.rng = random.Random(seed)
        self.authors = {}
        self.books = {}
        self.editions = {}
        self.users = {}
        self.shelves = {}
        self.reviews = {}
        self.comments = {}
        self.follows = {}
        self.orders = {}
        self.genres = {slug: {"slug": slug, "name": name, "parent": parent}
                       for slug, (name, parent) in GENRES.items()}
        self._populate()

    # -- data ----------------------------------------------------------------------------

    def _name(self):
        return self.rng.choice(FIRST) + " " + self.rng.choice(LAST)

    def _populate(self):
        rng = self.rng
        for aid in range(1, 17):
            self.authors[aid] = {
                "id": aid,
                "name": self._name(),
                "born": 1920 + rng.randrange(80),
                "country": rng.choice(COUNTRIES),
                "bio": "Writes about " + rng.choice(WORDS).lower() + "s and "
                       + rng.choice(WORDS).lower() + "s.",
            }
        bid = 0
        for aid in range(1, 17):
            previous = None
            series = rng.random() < 0.4
            for _ in range(rng.randrange(2, 5)):
                bid += 1
                self.books[bid] = {
                    "id": bid,
                    "title": "The " + rng.choice(WORDS) + " " + rng.choice(WORDS),
                    "author_id": aid,
                    "year": 1950 + rng.randrange(74),
                    "genre": rng.choice(LEAF_GENRES),
                    "previous_in_series": previous if series else None,
                }
                previous = bid
        eid = 0
        for bid in sorted(self.books):
            for fmt in rng.sample(FORMATS, rng.randrange(1, 4)):
                eid += 1
                self.editions[eid] = {
                    "id": eid,
                    "book_id": bid,
                    "format": fmt,
                    "isbn": "978" + str(1000000000 + rng.randrange(10 ** 9))[:10],
                    "price_cents": 299 + rng.randrange(40) * 50,
                    "stock": rng.choice([0, 1, 2, 3, 5, 8, 13, 40]),
                }
        for uid in range(1, 41):
            self.users[uid] = {
                "id": uid,
                "name": self._name(),
                "handle": "reader" + str(uid),
                "joined": 2008 + rng.randrange(15),
                "is_staff": uid in (1, 2),
            }
        sid = 0
        for uid in sorted(self.users):
            for name in ["read", "to-read", "favourites"][: rng.randrange(1, 4)]:
                sid += 1
                self.shelves[sid] = {
                    "id": sid,
                    "owner_id": uid,
                    "name": name,
                    "book_ids": rng.sample(sorted(self.books), rng.randrange(0, 7)),
                }
        rid = 0
        for bid in sorted(self.books):
            for uid in rng.sample(sorted(self.users), rng.randrange(0, 5)):
                rid += 1
                self.reviews[rid] = {
                    "id": rid,
                    "book_id": bid,
                    "user_id": uid,
                    "rating": rng.randrange(1, 6),
                    "text": "A " + rng.choice(["quiet", "bold", "tender", "baffling"])
                            + " book about " + rng.choice(WORDS).lower() + ".",
                }
        cid = 0
        for rid in sorted(self.reviews):
            parents = [None]
            for _ in range(rng.randrange(0, 7)):
                cid += 1
                parent = rng.choice(parents)
                self.comments[cid] = {
                    "id": cid,
                    "review_id": rid,
                    "user_id": rng.randrange(1, 41),
                    "parent_id": parent,
                    "text": rng.choice(["Agreed.", "Not for me.", "Which edition?",
                                        "The ending though!", "Adding it to my list."]),
                }
                parents.append(cid)
        for uid in sorted(self.users):
            self.follows[uid] = sorted(rng.sample([u for u in self.users if u != uid],
                                                  rng.randrange(0, 8)))
        oid = 0
        for uid in sorted(self.users):
            for _ in range(rng.randrange(0, 4)):
                oid += 1
                lines = [[e, rng.randrange(1, 3)]
                         for e in rng.sample(sorted(self.editions), rng.randrange(1, 4))]
                self.orders[oid] = {
                    "id": oid,
                    "user_id": uid,
                    "placed": f"2023-{1 + oid % 12:02d}-{1 + oid % 28:02d}",
                    "lines": lines,
                    "status": rng.choice(["delivered", "delivered", "shipped", "refunded"]),
                }

    # -- reads ---------------------------------------------------------------------------

    def query(self, table, **where):
        """SELECT * FROM table WHERE ... (equality on every given column), in id order."""
        self.queries += 1
        rows = getattr(self, table)
        found = []
        for key in sorted(rows, key=str):
            row = rows[key]
            if all(row.get(column) == value for column, value in where.items()):
                found.append(dict(row))
        return found

    def get(self, table, row_id):
        """SELECT * FROM table WHERE id = row_id; None when there is no such row."""
        self.queries += 1
        row = getattr(self, table).get(row_id)
        return dict(row) if row is not None else None

    def followees(self, user_id):
        self.queries += 1
        return list(self.follows.get(user_id, []))

    def followers(self, user_id):
        self.queries += 1
        return [uid for uid in sorted(self.follows) if user_id in self.follows[uid]]

    # -- writes --------------------------------------------------------------------------

    def upsert_review(self, book_id, user_id, rating, text):
        """Insert the user's review of the book, or update the one they wrote."""
        for review in self.reviews.values():
            if review["book_id"] == book_id and review["user_id"] == user_id:
                review["rating"] = rating
                review["text"] = text
                return review["id"]
        rid = max(self.reviews) + 1
        self.reviews[rid] = {"id": rid, "book_id": book_id, "user_id": user_id,
                             "rating": rating, "text": text}
        return rid


DB = FakeDatabase()


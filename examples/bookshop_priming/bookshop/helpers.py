"""Small display helpers used by the pages. They read cached values; the page primes them."""

from .models import authors, books, editions, shelves


def stars(book_id):
    """"★★★★☆" for an average of 3.5 to 4.49; "unrated" without reviews."""
    average = books.rating_summary(book_id)["average"]
    if average is None:
        return "unrated"
    full = int(average + 0.5)
    return "★" * full + "☆" * (5 - full)


def genre_breadcrumb(slug):
    """"Books › Fiction › Crime" for "crime": walks up the genre tree."""
    names = []
    while slug is not None:
        row = books.genre_row(slug)
        names.append(row["name"])
        slug = row["parent"]
    return " › ".join(reversed(names))


def byline(book_id):
    row = books.book_row(book_id)
    return "{}, by {}".format(row["title"], authors.author_row(row["author_id"])["name"])


def price_range(book_id):
    prices = [editions.edition_row(edition_id)["price_cents"]
              for edition_id in books.edition_ids_of_book(book_id)]
    if not prices:
        return "not available"
    low, high = min(prices), max(prices)
    if low == high:
        return editions.Edition.format_price(low)
    return f"{editions.Edition.format_price(low)} to {editions.Edition.format_price(high)}"


def shelf_summary(shelf_id):
    row = shelves.shelf_row(shelf_id)
    count = len(row["book_ids"])
    plural = "" if count == 1 else "s"
    return f"{row['name']} ({count} book{plural})"


def genre_tree(slug, depth=0):
    """The genre and its sub-genres, recursively, as nested dicts with book counts."""
    return {
        "slug": slug,
        "name": books.genre_row(slug)["name"],
        "books": len(books.book_ids_in_genre(slug)),
        "children": [genre_tree(child, depth + 1) for child in books.child_genres(slug)],
    }

"""What the feed and the search results know how to show: each kind of reference has a priming
function and a renderer. ``prime_refs`` and ``render_refs`` dispatch on the kind."""

from .models import books, editions, reviews, shelves, users


def _prime_review(review_id):
    reviews.Review(review_id).prime_for_display()


def _render_review(review_id):
    return reviews.Review(review_id).for_display()


def _prime_shelf(shelf_id):
    shelves.Shelf(shelf_id).prime_books()
    shelves.prime_shelf_row(shelf_id)


def _render_shelf(shelf_id):
    shelf = shelves.Shelf(shelf_id)
    return {
        "id": shelf_id,
        "name": shelf.name,
        "owner": users.User.handle_of(shelf_row_owner(shelf_id)),
        "books": [books.Book.title_of(book_id) for book_id in shelf.book_ids[:3]],
    }


def shelf_row_owner(shelf_id):
    return shelves.shelf_row(shelf_id)["owner_id"]


def _render_user(user_id):
    user = users.User(user_id)
    return {"id": user_id, "handle": user.handle, "following": len(users.followee_ids(user_id))}


def _prime_user(user_id):
    users.prime_user_row(user_id)
    users.prime_followee_ids(user_id)


PRIMERS = {
    "review": _prime_review,
    "shelf": _prime_shelf,
    "user": _prime_user,
    "book": lambda book_id: books.Book(book_id).prime_card(),
    "edition": editions.Edition.prime_price_label,
}

RENDERERS = {
    "review": _render_review,
    "shelf": _render_shelf,
    "user": _render_user,
    "book": lambda book_id: books.Book(book_id).card(),
    "edition": lambda edition_id: {"label": editions.Edition.price_label(edition_id)},
}


def prime_refs(refs):
    for kind, ident in refs:
        PRIMERS[kind](ident)


def render_refs(refs):
    rendered = []
    for kind, ident in refs:
        item = RENDERERS[kind](ident)
        item["kind"] = kind
        rendered.append(item)
    return rendered

"""The site's pages. Each page primes everything it will show, then renders it with plain
calls; the result is what the template gets (plain dicts, lists, strings and numbers)."""

from asynq import priming

from . import audit, db, helpers, registry, settings
from .models import authors, books, editions, orders, reviews, shelves, social, users
from .models.authors import Author
from .models.books import Book
from .models.editions import Edition
from .models.orders import Order
from .models.reviews import Review
from .models.shelves import Shelf
from .models.users import User


class PermissionDenied(Exception):
    pass


# -- book ------------------------------------------------------------------------------------


@priming.generator
def prime_book_page(book_id):
    book = Book(book_id)
    book.prime_author()
    book.prime_editions()
    book.prime_reviews()
    book.prime_series()
    books.prime_rating_summary(book_id)
    yield
    books.prime_genre_path(book.genre)
    book.author.prime_summary()
    for edition_id in books.edition_ids_of_book(book_id):
        editions.prime_stock_level(edition_id)


def book_page(book_id):
    prime_book_page(book_id)
    book = Book(book_id)
    author = book.author
    cheapest = Edition.cheapest_for_book(book_id)
    return {
        "book": book.card(),
        "author": author.summary(),
        "genre": helpers.genre_breadcrumb(book.genre),
        "series": [previous.title for previous in book.series()],
        "editions": [edition.to_dict() for edition in book.editions()],
        "price_range": helpers.price_range(book_id),
        "cheapest": Edition.price_label(cheapest.id) if cheapest else None,
        "rating": books.rating_summary(book_id),
        "stars": helpers.stars(book_id),
        "reviews": [review.for_display()
                    for review in sorted(book.reviews(), key=lambda r: (-r.rating, r.id))],
    }


# -- author ----------------------------------------------------------------------------------


@priming.generator
def prime_author_page(author_id):
    author = Author(author_id)
    author.prime_summary()
    author.prime_books()
    yield
    for book_id in authors.book_ids_of_author(author_id):
        books.prime_rating_summary(book_id)
        Edition.prime_cheapest_for_book(book_id)


def author_page(author_id):
    prime_author_page(author_id)
    author = Author(author_id)
    author_books = author.books()
    genres = [book.genre for book in author_books]
    main_genre = max(sorted(set(genres)), key=genres.count)
    by_rating = sorted(author_books, key=lambda b: (-(b.average_rating or 0), b.year, b.id))
    cards = []
    for book in by_rating:
        card = book.card()
        cheapest = Edition.cheapest_for_book(book.id)
        card["from"] = Edition.format_price(cheapest.price_cents) if cheapest else None
        card["stars"] = helpers.stars(book.id)
        cards.append(card)
    return {
        "author": author.summary(),
        "byline": Author.byline(author_id),
        "main_genre": books.genre_row(main_genre)["name"],
        "books": cards,
        "series_books": [book.title for book in author_books
                         if book.row["previous_in_series"] is not None],
    }


# -- shelves ---------------------------------------------------------------------------------


@priming.generator
def prime_shelves_page(user_id):
    User(user_id).prime()
    Shelf.prime_of_user(user_id)
    shelves.prime_books_on_shelves(user_id)
    yield
    yield  # the shelf rows
    for book_id in shelves.books_on_shelves(user_id):
        books.prime_rating_summary(book_id)


def shelves_page(user_id):
    prime_shelves_page(user_id)
    owner = User(user_id)
    return {
        "owner": owner.link(),
        "shelves": [
            {
                "title": helpers.shelf_summary(shelf.id),
                "books": [dict(book.card(), stars=helpers.stars(book.id))
                          for book in shelf.books()],
            }
            for shelf in Shelf.of_user(user_id)
        ],
        "distinct_books": len(shelves.books_on_shelves(user_id)),
    }


# -- review thread ---------------------------------------------------------------------------


def prime_review_page(review_id):
    review = Review(review_id)
    review.prime_for_display()
    review.prime_thread()


def review_page(review_id):
    prime_review_page(review_id)
    review = Review(review_id)
    thread = review.thread()
    participants = []

    def collect(nodes):
        for node in nodes:
            if node["by"] not in participants:
                participants.append(node["by"])
            collect(node["replies"])

    collect(thread)
    return {
        "review": review.for_display(),
        "thread": thread,
        "deepest": max([reviews.thread_depth(c) for c in reviews.top_comment_ids(review_id)],
                       default=0),
        "participants": sorted(participants),
    }


# -- profile ---------------------------------------------------------------------------------


@priming.generator
def prime_profile_page(user_id):
    user = User(user_id)
    user.prime()
    user.prime_following()
    user.prime_followers()
    user.prime_review_ids()
    shelves.prime_shelf_ids_of_user(user_id)
    yield
    for review_id in user.review_ids()[-3:]:
        Review(review_id).prime_for_display()
    for shelf_id in shelves.shelf_ids_of_user(user_id):
        shelves.prime_shelf_row(shelf_id)
    for other_id in users.followee_ids(user_id):
        social.prime_mutual_followers(user_id, other_id)


def profile_page(user_id):
    prime_profile_page(user_id)
    user = User(user_id)
    following = user.following()
    return {
        "user": user.link(),
        "member_since": users.user_row(user_id)["joined"],
        "following": [other.link() for other in following],
        "followers": sorted(follower.handle for follower in user.followers()),
        "in_common": {
            other.handle: len(social.mutual_followers(user_id, other.id)) for other in following
        },
        "recent_reviews": [Review(review_id).for_display() for review_id in user.review_ids()[-3:]],
        "shelves": [helpers.shelf_summary(shelf_id)
                    for shelf_id in shelves.shelf_ids_of_user(user_id)],
    }


# -- feed ------------------------------------------------------------------------------------


@priming.generator
def prime_feed_page(user_id):
    User(user_id).prime()
    social.prime_feed_refs(user_id)
    yield
    yield  # the followees' reviews and shelves
    registry.prime_refs(social.feed_refs(user_id))


def feed_page(user_id):
    prime_feed_page(user_id)
    refs = social.feed_refs(user_id)
    return {
        "viewer": User(user_id).link(),
        "items": registry.render_refs(refs),
        "kinds": {kind: sum(1 for ref in refs if ref[0] == kind)
                  for kind in sorted({ref[0] for ref in refs})},
    }


# -- recommendations -------------------------------------------------------------------------


def prime_recommendations(book_ids):
    for book_id in book_ids:
        Book(book_id).prime_card()
        Edition.prime_cheapest_for_book(book_id)
        books.prime_rating_summary(book_id)


def recommendations_page(user_id):
    User(user_id).prime()
    social.prime_recommended_book_ids(user_id)
    # Read the ids on their own first: on a miss they are computed right here, and the
    # computation primes what it reads (it would fetch key by key inside a priming function).
    book_ids = social.recommended_book_ids(user_id)
    prime_recommendations(book_ids)
    picks = []
    for book_id in book_ids:
        cheapest = Edition.cheapest_for_book(book_id)
        if cheapest is None:
            continue  # nothing we can sell
        picks.append({
            "book": Book(book_id).card(),
            "stars": helpers.stars(book_id),
            "buy": Edition.price_label(cheapest.id),
        })
    return {"for": User.handle_of(user_id), "picks": picks}


# -- orders ----------------------------------------------------------------------------------


def prime_orders_page(user_id):
    User(user_id).prime()
    orders.prime_order_history(user_id)
    orders.prime_lifetime_spend_cents(user_id)


def orders_page(user_id):
    prime_orders_page(user_id)
    history = orders.order_history(user_id)
    return {
        "customer": User(user_id).link(),
        "orders": [order.receipt() for order in history],
        "open": [order.id for order in history if order.status == "shipped"],
        "lifetime_spend": Edition.format_price(orders.lifetime_spend_cents(user_id)),
        "audit": audit.current_trail(),
    }


# -- genre -----------------------------------------------------------------------------------


@priming.generator
def prime_genre_tree(slug):
    books.prime_genre_row(slug)
    books.prime_book_ids_in_genre(slug)
    books.prime_child_genres(slug)
    yield
    for child in books.child_genres(slug):
        prime_genre_tree(child)


def genre_page(slug):
    prime_genre_tree(slug)
    books.prime_genre_path(slug)
    Book.prime_in_genre(slug)
    listed = sorted(Book.in_genre(slug), key=lambda book: (book.year, book.id))
    return {
        "breadcrumb": helpers.genre_breadcrumb(slug),
        "tree": helpers.genre_tree(slug),
        "books": [dict(book.card(), stars=helpers.stars(book.id)) for book in listed],
    }


# -- staff dashboard -------------------------------------------------------------------------

FEATURED_BOOK_IDS = list(range(1, 13))
RECENT_ORDER_IDS = list(range(1, 9))


@priming.generator
def prime_staff_dashboard(staff_id):
    # Security wants every look at the dashboard on record, whoever it is.
    audit.record("staff.dashboard", user=staff_id)
    User(staff_id).prime()
    for book_id in FEATURED_BOOK_IDS:
        Book(book_id).prime_card()
        books.prime_rating_summary(book_id)
        books.prime_edition_ids_of_book(book_id)
    for order_id in RECENT_ORDER_IDS:
        Order(order_id).prime_lines()
    yield
    for book_id in FEATURED_BOOK_IDS:
        for edition_id in books.edition_ids_of_book(book_id):
            Edition(edition_id).prime_with_stock()
    User.prime_many(sorted({orders.order_row(order_id)["user_id"]
                            for order_id in RECENT_ORDER_IDS}))


def staff_dashboard_page(staff_id):
    prime_staff_dashboard(staff_id)
    if not User(staff_id).is_staff:
        raise PermissionDenied("staff only")
    low_stock = []
    for book_id in FEATURED_BOOK_IDS:
        for edition in Book(book_id).editions():
            level = editions.stock_level(edition.id)
            if level <= settings.LOW_STOCK:
                low_stock.append({"book": helpers.byline(book_id), "edition": edition.format,
                                  "stock": level})
    top = sorted(FEATURED_BOOK_IDS,
                 key=lambda book_id: (-(books.rating_summary(book_id)["average"] or 0), book_id))
    recent = [
        {
            "order": order.id,
            "customer": User.handle_of(orders.order_row(order.id)["user_id"]),
            "items": sum(quantity for _edition, quantity in order.lines()),
            "total": Edition.format_price(order.total_cents),
        }
        for order in (Order(order_id) for order_id in RECENT_ORDER_IDS)
        if order.status != "refunded"
    ]
    return {
        "staff": User(staff_id).link(),
        "low_stock": low_stock,
        "top_rated": [helpers.byline(book_id) for book_id in top[:5]],
        "recent_orders": recent,
        "revenue": Edition.format_price(sum(
            Order(order_id).total_cents for order_id in RECENT_ORDER_IDS
            if orders.order_row(order_id)["status"] != "refunded")),
        "audit_counters": dict(audit.counters),
    }


# -- rating a book (a write) -----------------------------------------------------------------


def rate_book_page(user_id, book_id, rating, text):
    review_id = db.DB.upsert_review(book_id, user_id, rating, text)
    # The row, the lists it may have joined and the summary computed from them are stale now.
    reviews.review_row.dirty(review_id)
    books.review_ids_of_book.dirty(book_id)
    users.review_ids_of_user.dirty(user_id)
    books.rating_summary.dirty(book_id)
    prime_rated_book(review_id, book_id, user_id)
    return {
        "review": Review(review_id).for_display(),
        "rating": books.rating_summary(book_id),
        "stars": helpers.stars(book_id),
        "reviews_by_user": len(users.review_ids_of_user(user_id)),
    }


def prime_rated_book(review_id, book_id, user_id):
    Review(review_id).prime_for_display()
    books.prime_rating_summary(book_id)
    books.prime_review_ids_of_book(book_id)
    users.prime_review_ids_of_user(user_id)

"""Courses, their tree of modules, and lessons."""

from asynq import priming

from .. import db
from ..cache import mc
from .users import display_name, prime_display_name


@mc.cached("courses.row")
def course_row(course_id):
    return db.fetch_one("courses", course_id)


@mc.cached("courses.by_category")
def course_ids_in_category(category):
    return db.fetch_ids("courses", category=category)


@mc.cached("courses.top_modules")
def top_module_ids(course_id):
    return db.fetch_ids("modules", course_id=course_id, parent_id=None)


@mc.cached("modules.row")
def module_row(module_id):
    return db.fetch_one("modules", module_id)


@mc.cached("modules.children")
def child_module_ids(module_id):
    return db.fetch_ids("modules", parent_id=module_id)


@mc.cached("modules.lessons")
def lesson_ids_of_module(module_id):
    rows = db.fetch_where("lessons", module_id=module_id)
    return [row["id"] for row in sorted(rows, key=lambda row: row["position"])]


@mc.cached("lessons.row")
def lesson_row(lesson_id):
    return db.fetch_one("lessons", lesson_id)


@mc.cached("courses.enrollment_count")
def enrollment_count(course_id):
    return db.count_where("enrollments", course_id=course_id)


@mc.cached("courses.lesson_order")
def lesson_order(course_id):
    # lessons are a linked list (editors reorder by relinking): load the course's lessons in
    # one query and follow the links from the first one
    links = {row["id"]: row["next_lesson_id"] for row in db.fetch_where("lessons", course_id=course_id)}
    order = []
    lesson_id = course_row(course_id)["first_lesson_id"]
    while lesson_id is not None:
        order.append(lesson_id)
        lesson_id = links[lesson_id]
    return order


prime_course_row = course_row.prime
prime_course_ids_in_category = course_ids_in_category.prime
prime_top_module_ids = top_module_ids.prime
prime_module_row = module_row.prime
prime_child_module_ids = child_module_ids.prime
prime_lesson_ids_of_module = lesson_ids_of_module.prime
prime_lesson_row = lesson_row.prime
prime_enrollment_count = enrollment_count.prime


def prime_lesson_order(course_id):
    lesson_order.prime(course_id)
    prime_course_row(course_id)


def instructor_names(course_id):
    return [display_name(uid) for uid in course_row(course_id)["instructor_ids"]]


@priming.generator
def prime_instructor_names(course_id):
    prime_course_row(course_id)
    yield
    for uid in course_row(course_id)["instructor_ids"]:
        prime_display_name(uid)


def course_card(course_id):
    row = course_row(course_id)
    return {
        "id": course_id,
        "title": row["title"],
        "url": Course.url_for(course_id),
        "price": "free" if not row["price_cents"] else f"${row['price_cents'] / 100:.2f}",
        "rating": row["rating"],
        "instructors": instructor_names(course_id),
        "students": enrollment_count(course_id),
    }


def prime_course_card(course_id):
    prime_course_row(course_id)
    prime_enrollment_count(course_id)
    prime_instructor_names(course_id)


# --- the module tree ---------------------------------------------------------------------------


def lesson_summary(lesson_id):
    row = lesson_row(lesson_id)
    return {"id": lesson_id, "title": row["title"], "kind": row["kind"], "minutes": row["minutes"]}


def module_tree(module_id):
    row = module_row(module_id)
    return {
        "title": row["title"],
        "lessons": [lesson_summary(lid) for lid in lesson_ids_of_module(module_id)],
        "children": [module_tree(child) for child in child_module_ids(module_id)],
    }


@priming.generator
def prime_module_tree(module_id):
    prime_module_row(module_id)
    prime_child_module_ids(module_id)
    prime_lesson_ids_of_module(module_id)
    yield
    for lesson_id in lesson_ids_of_module(module_id):
        prime_lesson_row(lesson_id)
    for child in child_module_ids(module_id):
        prime_module_tree(child)


def breadcrumbs(module_id):
    """Titles from the course down to this module."""
    crumbs = []
    while module_id is not None:
        row = module_row(module_id)
        crumbs.append(row["title"])
        module_id = row["parent_id"]
    crumbs.reverse()
    return crumbs


@priming.generator
def prime_breadcrumbs(module_id):
    while module_id is not None:
        prime_module_row(module_id)
        yield
        module_id = module_row(module_id)["parent_id"]


class Course:
    def __init__(self, course_id):
        self.id = course_id

    @classmethod
    def load(cls, course_id):
        row = course_row(course_id)
        if row is None or not row["published"]:
            return None
        return cls(course_id)

    @classmethod
    def prime_load(cls, course_id):
        prime_course_row(course_id)

    @classmethod
    def in_category(cls, category):
        courses = [cls.load(course_id) for course_id in course_ids_in_category(category)]
        return [course for course in courses if course is not None]

    @classmethod
    @priming.generator
    def prime_in_category(cls, category):
        prime_course_ids_in_category(category)
        yield
        for course_id in course_ids_in_category(category):
            cls.prime_load(course_id)

    @property
    def title(self):
        return course_row(self.id)["title"]

    @property
    def requires(self):
        return course_row(self.id)["requires"]

    @property
    def instructors(self):
        return instructor_names(self.id)

    def outline(self):
        return [module_tree(module_id) for module_id in top_module_ids(self.id)]

    @priming.generator
    def prime_outline(self):
        prime_top_module_ids(self.id)
        yield
        for module_id in top_module_ids(self.id):
            prime_module_tree(module_id)

    def total_minutes(self):
        return sum(lesson_row(lesson_id)["minutes"] for lesson_id in lesson_order(self.id))

    @priming.generator
    def prime_total_minutes(self):
        prime_lesson_order(self.id)
        yield
        for lesson_id in lesson_order(self.id):
            prime_lesson_row(lesson_id)

    @staticmethod
    def url_for(course_id):
        return f"/courses/{course_row(course_id)['slug']}"

    @staticmethod
    def prime_url_for(course_id):
        prime_course_row(course_id)


def neighbours(lesson_id):
    """The lessons before and after this one in its course's order."""
    order = lesson_order(lesson_row(lesson_id)["course_id"])
    index = order.index(lesson_id)
    before = order[index - 1] if index > 0 else None
    after = order[index + 1] if index + 1 < len(order) else None
    return before, after

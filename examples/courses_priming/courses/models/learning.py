"""Enrollments and per-lesson progress."""

from asynq import priming

from .. import db
from ..cache import mc
from .catalog import (
    course_row,
    lesson_order,
    lesson_row,
    prime_course_row,
    prime_lesson_order,
    prime_lesson_row,
)


@mc.cached("enrollments.of_user")
def enrollment_ids_of_user(user_id):
    return db.fetch_ids("enrollments", user_id=user_id)


@mc.cached("enrollments.of_course")
def enrolled_user_ids(course_id):
    return [row["user_id"] for row in db.fetch_where("enrollments", course_id=course_id)]


@mc.cached("enrollments.row")
def enrollment_row(enrollment_id):
    return db.fetch_one("enrollments", enrollment_id)


@mc.cached("progress.done")
def completed_lesson_ids(user_id, course_id):
    rows = db.fetch_where("progress", user_id=user_id, course_id=course_id, status="done")
    return [row["lesson_id"] for row in rows]


@mc.cached("progress.last_day")
def last_activity_day(user_id, course_id):
    rows = db.fetch_where("progress", user_id=user_id, course_id=course_id)
    return max((row["day"] for row in rows), default=None)


prime_enrollment_ids_of_user = enrollment_ids_of_user.prime
prime_enrolled_user_ids = enrolled_user_ids.prime
prime_enrollment_row = enrollment_row.prime
prime_completed_lesson_ids = completed_lesson_ids.prime
prime_last_activity_day = last_activity_day.prime


def is_enrolled(user_id, course_id):
    return user_id in enrolled_user_ids(course_id)


def lesson_status(user_id, lesson_id):
    course_id = lesson_row(lesson_id)["course_id"]
    return "done" if lesson_id in completed_lesson_ids(user_id, course_id) else "todo"


@priming.generator
def prime_lesson_status(user_id, lesson_id):
    prime_lesson_row(lesson_id)
    yield
    prime_completed_lesson_ids(user_id, lesson_row(lesson_id)["course_id"])


class Enrollment:
    """One user's enrollment in one course; its figures are read together on the dashboard."""

    def __init__(self, enrollment_id, user_id, course_id):
        self.id = enrollment_id
        self.user_id = user_id
        self.course_id = course_id

    @classmethod
    def for_user(cls, user_id):
        enrollments = []
        for enrollment_id in enrollment_ids_of_user(user_id):
            row = enrollment_row(enrollment_id)
            enrollments.append(cls(enrollment_id, row["user_id"], row["course_id"]))
        return enrollments

    @classmethod
    @priming.generator
    def prime_for_user(cls, user_id):
        prime_enrollment_ids_of_user(user_id)
        yield
        for enrollment_id in enrollment_ids_of_user(user_id):
            prime_enrollment_row(enrollment_id)

    @property
    def course_title(self):
        return course_row(self.course_id)["title"]

    def percent_complete(self):
        order = lesson_order(self.course_id)
        done = set(completed_lesson_ids(self.user_id, self.course_id))
        if not order:
            return 100
        return round(100 * sum(1 for lesson_id in order if lesson_id in done) / len(order))

    def prime_percent_complete(self):
        prime_lesson_order(self.course_id)
        prime_completed_lesson_ids(self.user_id, self.course_id)

    def next_lesson(self):
        done = set(completed_lesson_ids(self.user_id, self.course_id))
        for lesson_id in lesson_order(self.course_id):
            if lesson_id not in done:
                row = lesson_row(lesson_id)
                return {"id": lesson_id, "title": row["title"], "minutes": row["minutes"]}
        return None

    @priming.generator
    def prime_next_lesson(self):
        prime_completed_lesson_ids(self.user_id, self.course_id)
        prime_lesson_order(self.course_id)
        yield
        done = set(completed_lesson_ids(self.user_id, self.course_id))
        for lesson_id in lesson_order(self.course_id):
            if lesson_id not in done:
                prime_lesson_row(lesson_id)
                break

    def last_activity(self):
        return last_activity_day(self.user_id, self.course_id)

    def prime_last_activity(self):
        prime_last_activity_day(self.user_id, self.course_id)

    def prime_summary(self):
        """Everything summary() reads."""
        prime_course_row(self.course_id)
        self.prime_percent_complete()
        self.prime_next_lesson()
        self.prime_last_activity()

    def summary(self):
        return {
            "course": self.course_title,
            "percent": self.percent_complete(),
            "next": self.next_lesson(),
            "last_active_day": self.last_activity(),
        }


def complete_lesson(user_id, lesson_id, day):
    """Record that the user finished a lesson; returns False when it was already done."""
    row = lesson_row(lesson_id)
    course_id = row["course_id"]
    if lesson_id in completed_lesson_ids(user_id, course_id):
        return False
    db.insert(
        "progress",
        {"user_id": user_id, "lesson_id": lesson_id, "course_id": course_id,
         "status": "done", "day": day},
    )
    completed_lesson_ids.dirty(user_id, course_id)
    last_activity_day.dirty(user_id, course_id)
    return True

"""The instructor dashboard: a set of widgets, each with the function that primes it."""

from asynq import priming

from .. import db
from ..cache import mc
from .catalog import (
    course_row,
    enrollment_count,
    lesson_order,
    prime_course_row,
    prime_enrollment_count,
    prime_lesson_order,
)
from .forum import prime_reply_count, prime_thread_ids_of_course, reply_count, thread_ids_of_course
from .learning import (
    completed_lesson_ids,
    enrolled_user_ids,
    prime_completed_lesson_ids,
    prime_enrolled_user_ids,
)
from .quizzes import pass_rate, prime_pass_rate, prime_quiz_ids_of_course, quiz_ids_of_course
from .users import display_name, prime_display_name


@mc.cached("analytics.taught")
def course_ids_taught(instructor_id):
    return [row["id"] for row in db.fetch_where("courses") if instructor_id in row["instructor_ids"]]


prime_course_ids_taught = course_ids_taught.prime


def enrollments_widget(instructor_id):
    return {
        course_row(course_id)["title"]: enrollment_count(course_id)
        for course_id in course_ids_taught(instructor_id)
    }


@priming.generator
def prime_enrollments_widget(instructor_id):
    prime_course_ids_taught(instructor_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        prime_course_row(course_id)
        prime_enrollment_count(course_id)


def completion_widget(instructor_id):
    rates = {}
    for course_id in course_ids_taught(instructor_id):
        total = len(lesson_order(course_id))
        students = enrolled_user_ids(course_id)
        if not students or not total:
            continue
        done = sum(len(completed_lesson_ids(uid, course_id)) for uid in students)
        rates[course_row(course_id)["title"]] = round(100 * done / (total * len(students)))
    return rates


@priming.generator
def prime_completion_widget(instructor_id):
    prime_course_ids_taught(instructor_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        prime_course_row(course_id)
        prime_lesson_order(course_id)
        prime_enrolled_user_ids(course_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        for uid in enrolled_user_ids(course_id):
            prime_completed_lesson_ids(uid, course_id)


def quiz_widget(instructor_id):
    return [
        {"course": course_row(course_id)["title"], "quiz": quiz_id, "pass_rate": pass_rate(quiz_id)}
        for course_id in course_ids_taught(instructor_id)
        for quiz_id in quiz_ids_of_course(course_id)
        if pass_rate(quiz_id) is not None
    ]


@priming.generator
def prime_quiz_widget(instructor_id):
    prime_course_ids_taught(instructor_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        prime_course_row(course_id)
        prime_quiz_ids_of_course(course_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        for quiz_id in quiz_ids_of_course(course_id):
            prime_pass_rate(quiz_id)


def top_students_widget(instructor_id, limit=5):
    pairs = {
        (uid, course_id)
        for course_id in course_ids_taught(instructor_id)
        for uid in enrolled_user_ids(course_id)
    }
    ranked = sorted(
        pairs,
        key=lambda pair: (-len(completed_lesson_ids(pair[0], pair[1])), pair[0], pair[1]),
    )
    return [
        f"{display_name(uid)} ({course_row(course_id)['title']}: "
        f"{len(completed_lesson_ids(uid, course_id))} lessons)"
        for uid, course_id in ranked[:limit]
    ]


@priming.generator
def prime_top_students_widget(instructor_id, limit=5):
    prime_course_ids_taught(instructor_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        prime_enrolled_user_ids(course_id)
        prime_course_row(course_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        for uid in enrolled_user_ids(course_id):
            prime_completed_lesson_ids(uid, course_id)
            # only the top ones are shown, but we don't know which yet
            prime_display_name(uid)


def forum_widget(instructor_id):
    activity = {}
    for course_id in course_ids_taught(instructor_id):
        threads = thread_ids_of_course(course_id)
        activity[course_row(course_id)["title"]] = {
            "threads": len(threads),
            "posts": sum(reply_count(thread_id) + 1 for thread_id in threads),
        }
    return activity


@priming.generator
def prime_forum_widget(instructor_id):
    prime_course_ids_taught(instructor_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        prime_course_row(course_id)
        prime_thread_ids_of_course(course_id)
    yield
    for course_id in course_ids_taught(instructor_id):
        for thread_id in thread_ids_of_course(course_id):
            prime_reply_count(thread_id)


def revenue_widget(instructor_id):
    total = 0
    for course_id in course_ids_taught(instructor_id):
        row = course_row(course_id)
        total += row["price_cents"] * enrollment_count(course_id) // len(row["instructor_ids"])
    return {"share_cents": total}


WIDGETS = {
    "enrollments": enrollments_widget,
    "completion": completion_widget,
    "quizzes": quiz_widget,
    "top_students": top_students_widget,
    "forum": forum_widget,
    "revenue": revenue_widget,
}

WIDGET_PRIMERS = {
    "enrollments": prime_enrollments_widget,
    "completion": prime_completion_widget,
    "quizzes": prime_quiz_widget,
    "top_students": prime_top_students_widget,
    "forum": prime_forum_widget,
    # revenue reads what the enrollments widget primes
    "revenue": prime_enrollments_widget,
}


def prime_dashboard(instructor_id, widget_names):
    prime_display_name(instructor_id)
    for name in widget_names:
        WIDGET_PRIMERS[name](instructor_id)


def render_dashboard(instructor_id, widget_names):
    return {
        "instructor": display_name(instructor_id),
        "widgets": {name: WIDGETS[name](instructor_id) for name in widget_names},
    }

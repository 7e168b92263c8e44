"""Pages. Each one primes what it is about to read, then reads it, and returns plain data."""

from asynq import priming

from . import audit
from .models.analytics import prime_dashboard, render_dashboard
from .models.billing import company_usage, prime_company_usage, unused_seats
from .models.catalog import (
    Course,
    breadcrumbs,
    course_card,
    course_row,
    instructor_names,
    lesson_order,
    lesson_row,
    neighbours,
    prime_breadcrumbs,
    prime_course_card,
    prime_course_row,
    prime_lesson_order,
    prime_lesson_row,
)
from .models.certificates import Certificate
from .models.forum import (
    badge,
    count_participants,
    post_row,
    prime_badge,
    prime_post_row,
    prime_render_post,
    prime_thread_listing,
    prime_thread_row,
    prime_whole_thread,
    render_post,
    thread_listing,
    thread_row,
)
from .models.learning import (
    Enrollment,
    complete_lesson,
    completed_lesson_ids,
    is_enrolled,
    lesson_status,
    prime_completed_lesson_ids,
    prime_enrolled_user_ids,
    prime_lesson_status,
)
from .models.quizzes import (
    Quiz,
    attempt_ids,
    attempt_row,
    grade_attempt,
    pass_rate,
    prime_attempt_ids,
    prime_pass_rate,
)
from .models.users import User, company_row, prime_company_row, prime_display_name

TODAY = 700
DEFAULT_WIDGETS = ["enrollments", "completion", "quizzes", "top_students", "forum", "revenue"]


# --- catalog ---------------------------------------------------------------------------------


def catalog(category, viewer_id):
    Course.prime_in_category(category)
    User(viewer_id).prime_card()
    courses = Course.in_category(category)
    for course in courses:
        prime_course_card(course.id)
        prime_enrolled_user_ids(course.id)
        course.prime_total_minutes()
    courses.sort(key=lambda course: (-course_row(course.id)["rating"], course.title))
    cards = []
    for course in courses:
        card = course_card(course.id)
        card["minutes"] = course.total_minutes()
        card["enrolled"] = is_enrolled(viewer_id, course.id)
        cards.append(card)
    return {"category": category, "viewer": User(viewer_id).card(), "courses": cards}


# --- a course --------------------------------------------------------------------------------


def prerequisite_chain(course_id):
    """The courses to take before this one, nearest first."""
    chain = []
    required = course_row(course_id)["requires"]
    while required is not None:
        chain.append(required)
        required = course_row(required)["requires"]
    return chain


@priming.generator
def prime_prerequisite_chain(course_id):
    prime_course_row(course_id)
    yield
    required = course_row(course_id)["requires"]
    while required is not None:
        prime_course_row(required)
        yield
        required = course_row(required)["requires"]


def prime_course_overview(course_id, viewer_id):
    Course.prime_load(course_id)
    course = Course(course_id)
    prime_course_card(course_id)
    course.prime_outline()
    course.prime_total_minutes()
    prime_prerequisite_chain(course_id)
    prime_thread_listing(course_id)
    prime_enrolled_user_ids(course_id)
    prime_completed_lesson_ids(viewer_id, course_id)


def course_overview(course_id, viewer_id):
    prime_course_overview(course_id, viewer_id)
    course = Course.load(course_id)
    if course is None:
        return {"error": "not found"}
    enrolled = is_enrolled(viewer_id, course_id)
    return {
        "card": course_card(course_id),
        "outline": course.outline(),
        "hours": round(course.total_minutes() / 60, 1),
        "requires": [course_row(required)["title"] for required in prerequisite_chain(course_id)],
        "forum": thread_listing(course_id),
        "enrolled": enrolled,
        "done": len(completed_lesson_ids(viewer_id, course_id)) if enrolled else 0,
    }


def prerequisites(course_id, user_id):
    prime_prerequisite_chain(course_id)
    steps = []
    for required in prerequisite_chain(course_id):
        prime_completed_lesson_ids(user_id, required)
        prime_lesson_order(required)
    for required in prerequisite_chain(course_id):
        total = len(lesson_order(required))
        done = len(completed_lesson_ids(user_id, required))
        steps.append(
            {
                "course": course_row(required)["title"],
                "done": done,
                "total": total,
                "ready": done == total,
            }
        )
    ready = all(step["ready"] for step in steps)
    return {"course": course_row(course_id)["title"], "steps": steps, "can_enroll": ready}


# --- a lesson --------------------------------------------------------------------------------


@priming.generator
def prime_lesson_page(lesson_id, user_id):
    prime_lesson_row(lesson_id)
    yield
    row = lesson_row(lesson_id)
    prime_breadcrumbs(row["module_id"])
    prime_lesson_order(row["course_id"])
    prime_lesson_status(user_id, lesson_id)
    prime_course_row(row["course_id"])
    quiz = Quiz.for_lesson(row)
    if quiz is not None:
        quiz.prime_questions()
        quiz.prime_passed(user_id)
    yield
    before, after = neighbours(lesson_id)
    for neighbour in (before, after):
        if neighbour is not None:
            prime_lesson_row(neighbour)


def lesson_page(lesson_id, user_id):
    prime_lesson_page(lesson_id, user_id)
    row = lesson_row(lesson_id)
    before, after = neighbours(lesson_id)
    page = {
        "title": row["title"],
        "course": course_row(row["course_id"])["title"],
        "breadcrumbs": breadcrumbs(row["module_id"]),
        "status": lesson_status(user_id, lesson_id),
        "previous": lesson_row(before)["title"] if before else None,
        "next": lesson_row(after)["title"] if after else None,
        "quiz": None,
    }
    quiz = Quiz.for_lesson(row)
    if quiz is not None:
        page["quiz"] = {
            "questions": quiz.questions(),
            "best": quiz.best_grade(user_id),
            "passed": quiz.passed(user_id),
        }
    page["taught_by"] = instructor_names(row["course_id"])
    return page


@priming.generator
def prime_complete_lesson_page(user_id, lesson_id):
    prime_lesson_status(user_id, lesson_id)
    yield
    # the summary after the redirect: primed now, with the status check
    Enrollment(None, user_id, lesson_row(lesson_id)["course_id"]).prime_summary()


def complete_lesson_page(user_id, lesson_id):
    """POST /lessons/<id>/complete, then the redirect target's data."""
    prime_complete_lesson_page(user_id, lesson_id)
    newly_done = complete_lesson(user_id, lesson_id, TODAY)
    course_id = lesson_row(lesson_id)["course_id"]
    if newly_done:
        audit.record("lesson_completed", user_id=user_id, lesson_id=lesson_id)
    enrollment = Enrollment(None, user_id, course_id)
    return {"lesson": lesson_row(lesson_id)["title"], "status": lesson_status(user_id, lesson_id),
            "summary": enrollment.summary()}


# --- a learner -------------------------------------------------------------------------------


def my_learning(user_id):
    Enrollment.prime_for_user(user_id)
    Certificate.prime_issued_to(user_id)
    User(user_id).prime_card()
    enrollments = Enrollment.for_user(user_id)
    for enrollment in enrollments:
        enrollment.prime_summary()
    enrollments.sort(key=lambda enrollment: (-(enrollment.last_activity() or 0), enrollment.id))
    return {
        "me": User(user_id).card(),
        "courses": [enrollment.summary() for enrollment in enrollments],
        "finished": [
            enrollment.course_title
            for enrollment in enrollments
            if enrollment.percent_complete() == 100
        ],
        "certificates": [certificate.describe() for certificate in Certificate.issued_to(user_id)],
    }


def quiz_results(quiz_id, user_id):
    quiz = Quiz(quiz_id)
    quiz.prime_questions()
    quiz.prime_passed(user_id)
    prime_attempt_ids(quiz_id, user_id)
    prime_pass_rate(quiz_id)
    attempts = [
        {"attempt": attempt_id, "day": attempt_row(attempt_id)["day"], **grade_attempt(attempt_id)}
        for attempt_id in attempt_ids(quiz_id, user_id)
    ]
    return {
        "questions": quiz.question_count,
        "points": sum(question["points"] for question in quiz.questions()),
        "attempts": attempts,
        "passed": quiz.passed(user_id),
        "class_pass_rate": pass_rate(quiz_id),
    }


def certificate_page(serial):
    Certificate.prime_find_by_serial(serial)
    certificate = Certificate.find_by_serial(serial)
    if certificate is None:
        return {"valid": False}
    certificate.prime_describe()
    return dict(certificate.describe(), valid=True)


# --- forums ----------------------------------------------------------------------------------


@priming.generator
def prime_forum_thread(thread_id, viewer_id):
    # threads get deep: prime all their posts at once rather than level by level
    prime_whole_thread(thread_id)
    User.prime_get(viewer_id)
    prime_display_name(viewer_id)
    yield
    thread = thread_row(thread_id)
    prime_badge(thread["course_id"])
    prime_course_row(thread["course_id"])


def viewer_info(viewer_id, course_id):
    viewer = User.get(viewer_id)
    if viewer is None:
        return None
    return {"name": viewer.name, "badge": badge(viewer_id, course_id)}


def forum_thread(thread_id, viewer_id):
    prime_forum_thread(thread_id, viewer_id)
    thread = thread_row(thread_id)
    course_id = thread["course_id"]
    return {
        "title": thread["title"],
        "course": course_row(course_id)["title"],
        "participants": count_participants(thread["root_post_id"]),
        "posts": render_post(thread["root_post_id"], course_id),
        "viewer": viewer_info(viewer_id, course_id),
    }


@priming.generator
def prime_reply_permalink(post_id, viewer_id):
    prime_render_post(post_id)
    User.prime_get(viewer_id)
    prime_display_name(viewer_id)
    prime_post_row(post_id)
    yield
    prime_thread_row(post_row(post_id)["thread_id"])
    yield
    prime_badge(thread_row(post_row(post_id)["thread_id"])["course_id"])


def reply_permalink(post_id, viewer_id):
    """/forum/posts/<id>: one reply and the replies under it."""
    prime_reply_permalink(post_id, viewer_id)
    thread = thread_row(post_row(post_id)["thread_id"])
    return {
        "thread": thread["title"],
        "post": render_post(post_id, thread["course_id"]),
        "viewer": viewer_info(viewer_id, thread["course_id"]),
    }


def course_forum(course_id):
    prime_thread_listing(course_id)
    prime_course_row(course_id)
    return {"course": course_row(course_id)["title"], "threads": thread_listing(course_id)}


# --- companies and instructors ---------------------------------------------------------------


def company_usage_page(company_id):
    prime_company_usage(company_id)
    report = company_usage(company_id)
    report["unused_seats"] = unused_seats(company_id)
    return report


def instructor_dashboard(instructor_id, widgets=None):
    widgets = widgets or DEFAULT_WIDGETS
    prime_dashboard(instructor_id, widgets)
    return render_dashboard(instructor_id, widgets)


def audit_page(limit):
    entries = audit.recent(limit)
    for entry in entries:
        if "company_id" in entry:
            prime_company_row(entry["company_id"])
    return [
        dict(entry, company=company_row(entry["company_id"])["name"])
        if "company_id" in entry
        else dict(entry)
        for entry in entries
    ]

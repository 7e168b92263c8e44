"""The routing table and the per-request wrapper the WSGI app calls."""

from . import views
from .cache import mc

ROUTES = {
    "catalog": views.catalog,
    "course": views.course_overview,
    "prerequisites": views.prerequisites,
    "lesson": views.lesson_page,
    "complete_lesson": views.complete_lesson_page,
    "my_learning": views.my_learning,
    "quiz_results": views.quiz_results,
    "certificate": views.certificate_page,
    "forum_thread": views.forum_thread,
    "reply": views.reply_permalink,
    "course_forum": views.course_forum,
    "company_usage": views.company_usage_page,
    "instructor_dashboard": views.instructor_dashboard,
    "audit": views.audit_page,
}


def handle(route, **params):
    """Serve one request: a fresh request scope, so nothing is shared between requests."""
    with mc.request():
        return ROUTES[route](**params)

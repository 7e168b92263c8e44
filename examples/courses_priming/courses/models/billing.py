"""Companies buy seat licences for their employees; usage is reported to their admins."""

from asynq import priming

from .. import audit, db
from ..cache import mc
from .catalog import course_row, prime_course_row
from .learning import completed_lesson_ids, prime_completed_lesson_ids
from .users import company_row, display_name, prime_company_row, prime_display_name


@mc.cached("licences.of_company")
def licence_ids_of_company(company_id):
    return db.fetch_ids("licences", company_id=company_id)


@mc.cached("licences.row")
def licence_row(licence_id):
    return db.fetch_one("licences", licence_id)


@mc.cached("licences.seat_users")
def seat_user_ids(licence_id):
    return [row["user_id"] for row in db.fetch_where("seats", licence_id=licence_id)]


prime_licence_ids_of_company = licence_ids_of_company.prime
prime_licence_row = licence_row.prime
prime_seat_user_ids = seat_user_ids.prime


def monthly_cost_cents(licence_id):
    row = licence_row(licence_id)
    return row["seats"] * row["price_per_seat_cents"]


def seat_usage(licence_id):
    licence = licence_row(licence_id)
    users = seat_user_ids(licence_id)
    return {
        "course": course_row(licence["course_id"])["title"],
        "seats": licence["seats"],
        "used": len(users),
        "cost_cents": monthly_cost_cents(licence_id),
        "learners": [
            {
                "name": display_name(user_id),
                "lessons_done": len(completed_lesson_ids(user_id, licence["course_id"])),
            }
            for user_id in users
        ],
    }


@priming.generator
def prime_seat_usage(licence_id):
    prime_licence_row(licence_id)
    prime_seat_user_ids(licence_id)
    yield
    course_id = licence_row(licence_id)["course_id"]
    prime_course_row(course_id)
    for user_id in seat_user_ids(licence_id):
        prime_display_name(user_id)
        prime_completed_lesson_ids(user_id, course_id)


def company_usage(company_id):
    return {
        "company": company_row(company_id)["name"],
        "plan": company_row(company_id)["plan"],
        "licences": [seat_usage(licence_id) for licence_id in licence_ids_of_company(company_id)],
    }


@priming.generator
def prime_company_usage(company_id):
    # the usage report is a metered feature: every report computed is billed and audited, and
    # this is the one place that runs exactly once per report
    audit.meter(company_id, "usage_report")
    audit.record("usage_report", company_id=company_id)
    prime_company_row(company_id)
    prime_licence_ids_of_company(company_id)
    yield
    for licence_id in licence_ids_of_company(company_id):
        prime_seat_usage(licence_id)


def unused_seats(company_id):
    return sum(
        licence_row(licence_id)["seats"] - len(seat_user_ids(licence_id))
        for licence_id in licence_ids_of_company(company_id)
    )

"""Users, instructors and companies."""

from asynq import priming

from .. import db
from ..cache import mc


@mc.cached("users.row")
def user_row(user_id):
    return db.fetch_one("users", user_id)


@mc.cached("users.instructor")
def instructor_profile(user_id):
    # None for students: cached too, so the badge check stays cheap
    return db.fetch_one("instructors", user_id)


@mc.cached("companies.row")
def company_row(company_id):
    return db.fetch_one("companies", company_id)


@mc.cached("users.display_name")
def display_name(user_id):
    row = user_row(user_id)
    if row is None:
        return "Deleted user"
    return f"{row['first']} {row['last'][0]}."


prime_user_row = user_row.prime
prime_instructor_profile = instructor_profile.prime
prime_company_row = company_row.prime


def prime_display_name(user_id):
    display_name.prime(user_id)
    # on a cold cache display_name() reads the row: fetch it in the same round
    prime_user_row(user_id)


class User:
    def __init__(self, user_id):
        self.id = user_id

    @classmethod
    def get(cls, user_id):
        if user_row(user_id) is None:
            return None
        return cls(user_id)

    @classmethod
    def prime_get(cls, user_id):
        prime_user_row(user_id)

    @property
    def name(self):
        return display_name(self.id)

    @property
    def email(self):
        return user_row(self.id)["email"]

    def is_instructor(self):
        return instructor_profile(self.id) is not None

    def prime_is_instructor(self):
        prime_instructor_profile(self.id)

    def company_name(self):
        company_id = user_row(self.id)["company_id"]
        if company_id is None:
            return None
        return company_row(company_id)["name"]

    @priming.generator
    def prime_company_name(self):
        prime_user_row(self.id)
        yield
        company_id = user_row(self.id)["company_id"]
        if company_id is not None:
            prime_company_row(company_id)

    def prime_card(self):
        prime_display_name(self.id)
        self.prime_is_instructor()
        self.prime_company_name()

    def card(self):
        return {
            "id": self.id,
            "name": self.name,
            "instructor": self.is_instructor(),
            "company": self.company_name(),
        }

    @staticmethod
    def initials(user_id):
        row = user_row(user_id)
        return (row["first"][0] + row["last"][0]).upper()

    @staticmethod
    def prime_initials(user_id):
        prime_user_row(user_id)

"""Certificates of completion."""

from asynq import priming

from .. import db
from ..cache import mc
from .catalog import Course, course_row, prime_course_row
from .users import display_name, prime_display_name


@mc.cached("certificates.of_user")
def certificate_ids_of_user(user_id):
    return db.fetch_ids("certificates", user_id=user_id)


@mc.cached("certificates.row")
def certificate_row(certificate_id):
    return db.fetch_one("certificates", certificate_id)


prime_certificate_ids_of_user = certificate_ids_of_user.prime
prime_certificate_row = certificate_row.prime


class Certificate:
    def __init__(self, certificate_id):
        self.id = certificate_id

    @classmethod
    def issued_to(cls, user_id):
        return [cls(certificate_id) for certificate_id in certificate_ids_of_user(user_id)]

    @classmethod
    @priming.generator
    def prime_issued_to(cls, user_id):
        prime_certificate_ids_of_user(user_id)
        yield
        for certificate_id in certificate_ids_of_user(user_id):
            cls(certificate_id).prime_describe()

    @property
    def serial(self):
        return certificate_row(self.id)["serial"]

    @property
    def course_title(self):
        return course_row(certificate_row(self.id)["course_id"])["title"]

    def describe(self):
        row = certificate_row(self.id)
        return {
            "serial": self.serial,
            "course": self.course_title,
            "course_url": Course.url_for(row["course_id"]),
            "holder": display_name(row["user_id"]),
            "issued_day": row["issued_day"],
        }

    @priming.generator
    def prime_describe(self):
        prime_certificate_row(self.id)
        yield
        row = certificate_row(self.id)
        prime_course_row(row["course_id"])
        Course.prime_url_for(row["course_id"])
        prime_display_name(row["user_id"])

    @staticmethod
    def find_by_serial(serial):
        # serials are CRS-<course>-<user>: no index needed
        _, course_id, user_id = serial.split("-")
        for certificate_id in certificate_ids_of_user(int(user_id)):
            if certificate_row(certificate_id)["course_id"] == int(course_id):
                return Certificate(certificate_id)
        return None

    @staticmethod
    @priming.generator
    def prime_find_by_serial(serial):
        user_id = int(serial.split("-")[2])
        prime_certificate_ids_of_user(user_id)
        yield
        for certificate_id in certificate_ids_of_user(user_id):
            prime_certificate_row(certificate_id)

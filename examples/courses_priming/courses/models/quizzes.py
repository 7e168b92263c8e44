"""Quizzes, their questions, and graded attempts."""

from asynq import priming

from .. import db
from ..cache import mc


@mc.cached("quizzes.row")
def quiz_row(quiz_id):
    return db.fetch_one("quizzes", quiz_id)


@mc.cached("quizzes.of_course")
def quiz_ids_of_course(course_id):
    return db.fetch_ids("quizzes", course_id=course_id)


@mc.cached("questions.row")
def question_row(question_id):
    return db.fetch_one("questions", question_id)


@mc.cached("attempts.ids")
def attempt_ids(quiz_id, user_id):
    return db.fetch_ids("attempts", quiz_id=quiz_id, user_id=user_id)


@mc.cached("attempts.of_quiz")
def attempt_ids_of_quiz(quiz_id):
    return db.fetch_ids("attempts", quiz_id=quiz_id)


@mc.cached("attempts.row")
def attempt_row(attempt_id):
    return db.fetch_one("attempts", attempt_id)


prime_quiz_row = quiz_row.prime
prime_quiz_ids_of_course = quiz_ids_of_course.prime
prime_question_row = question_row.prime
prime_attempt_ids = attempt_ids.prime
prime_attempt_ids_of_quiz = attempt_ids_of_quiz.prime
prime_attempt_row = attempt_row.prime


@mc.cached("attempts.grade")
def grade_attempt(attempt_id):
    """Points scored, out of the quiz's total; graded once, then cached."""
    attempt = attempt_row(attempt_id)
    question_ids = quiz_row(attempt["quiz_id"])["question_ids"]
    for question_id in question_ids:
        prime_question_row(question_id)
    scored = total = 0
    for question_id in question_ids:
        question = question_row(question_id)
        total += question["points"]
        if attempt["answers"].get(str(question_id)) == question["answer"]:
            scored += question["points"]
    return {"scored": scored, "total": total, "percent": round(100 * scored / total)}


@priming.generator
def prime_grade_attempt(attempt_id):
    grade_attempt.prime(attempt_id)
    prime_attempt_row(attempt_id)
    yield
    # a cold cache grades the attempt: it needs the quiz for its questions
    prime_quiz_row(attempt_row(attempt_id)["quiz_id"])


class Quiz:
    def __init__(self, quiz_id):
        self.id = quiz_id

    @classmethod
    def for_lesson(cls, lesson_row):
        quiz_id = lesson_row["quiz_id"]
        return cls(quiz_id) if quiz_id is not None else None

    @property
    def question_count(self):
        return len(quiz_row(self.id)["question_ids"])

    def questions(self):
        return [
            {"prompt": question_row(qid)["prompt"], "points": question_row(qid)["points"]}
            for qid in quiz_row(self.id)["question_ids"]
        ]

    @priming.generator
    def prime_questions(self):
        prime_quiz_row(self.id)
        yield
        for question_id in quiz_row(self.id)["question_ids"]:
            prime_question_row(question_id)

    def best_grade(self, user_id):
        grades = [grade_attempt(attempt_id) for attempt_id in attempt_ids(self.id, user_id)]
        return max(grades, key=lambda grade: grade["percent"], default=None)

    @priming.generator
    def prime_best_grade(self, user_id):
        prime_attempt_ids(self.id, user_id)
        yield
        for attempt_id in attempt_ids(self.id, user_id):
            prime_grade_attempt(attempt_id)

    def passed(self, user_id):
        best = self.best_grade(user_id)
        return best is not None and best["percent"] >= Quiz.pass_mark(self.id)

    def prime_passed(self, user_id):
        self.prime_best_grade(user_id)
        Quiz.prime_pass_mark(self.id)

    @staticmethod
    def pass_mark(quiz_id):
        return quiz_row(quiz_id)["pass_percent"]

    @staticmethod
    def prime_pass_mark(quiz_id):
        prime_quiz_row(quiz_id)


def pass_rate(quiz_id):
    """Share of attempts at this quiz that passed, in percent."""
    grades = [grade_attempt(attempt_id)["percent"] for attempt_id in attempt_ids_of_quiz(quiz_id)]
    if not grades:
        return None
    mark = Quiz.pass_mark(quiz_id)
    return round(100 * len([grade for grade in grades if grade >= mark]) / len(grades))


@priming.generator
def prime_pass_rate(quiz_id):
    prime_attempt_ids_of_quiz(quiz_id)
    Quiz.prime_pass_mark(quiz_id)
    yield
    for attempt_id in attempt_ids_of_quiz(quiz_id):
        prime_grade_attempt(attempt_id)

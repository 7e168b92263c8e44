"""The platform's database, faked in memory for development and tests.

Every read and write is one "query" and is counted, so a page's cost in database round trips
can be compared with and without a warm cache. The data is generated from a fixed seed: the
same rows on every run.
"""

import copy
import random

_queries = 0
_tables = {}


def query_count():
    return _queries


def reset_query_count():
    global _queries
    _queries = 0


def _count():
    global _queries
    _queries += 1


def fetch_one(table, row_id):
    """SELECT * FROM table WHERE id = row_id (None when there is no such row)."""
    _count()
    row = _tables[table].get(row_id)
    return copy.deepcopy(row) if row is not None else None


def fetch_where(table, **where):
    """SELECT * FROM table WHERE col = value AND ... ORDER BY id."""
    _count()
    rows = [
        row
        for row in _tables[table].values()
        if all(row.get(column) == value for column, value in where.items())
    ]
    return [copy.deepcopy(row) for row in sorted(rows, key=lambda row: row["id"])]


def fetch_ids(table, **where):
    """SELECT id FROM table WHERE ... ORDER BY id."""
    return [row["id"] for row in fetch_where(table, **where)]


def count_where(table, **where):
    """SELECT COUNT(*) FROM table WHERE ..."""
    return len(fetch_where(table, **where))


def update(table, row_id, **values):
    _count()
    _tables[table][row_id].update(values)


def insert(table, row):
    _count()
    row = dict(row)
    row["id"] = max(_tables[table], default=0) + 1
    _tables[table][row["id"]] = row
    return row["id"]


# --- fixture data ----------------------------------------------------------------------------

FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "John"]
LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
TOPICS = {
    "data": ["SQL Basics", "Statistics I", "Statistics II", "Machine Learning"],
    "engineering": ["Python 101", "Testing", "Distributed Systems"],
    "design": ["Typography", "Color Theory"],
}


def _build():
    rng = random.Random(20161007)
    tables = {name: {} for name in (
        "users", "instructors", "companies", "courses", "modules", "lessons", "enrollments",
        "progress", "quizzes", "questions", "attempts", "threads", "posts", "certificates",
        "licences", "seats",
    )}

    for company_id, (name, plan) in enumerate(
        [("Initech", "team"), ("Globex", "enterprise"), ("Hooli", "team")], start=1
    ):
        tables["companies"][company_id] = {"id": company_id, "name": name, "plan": plan}

    for user_id in range(1, 41):
        tables["users"][user_id] = {
            "id": user_id,
            "first": FIRST[user_id % len(FIRST)],
            "last": LAST[(user_id * 3) % len(LAST)],
            "email": f"user{user_id}@example.com",
            "company_id": (user_id % 4) or None,
            "joined_day": 100 + user_id * 7,
        }
    for user_id in range(1, 6):
        tables["instructors"][user_id] = {
            "id": user_id,
            "headline": f"Teaches {['data', 'code', 'design', 'math', 'systems'][user_id - 1]}",
            "years": 3 + user_id,
        }

    course_id = 100
    module_id = 1000
    lesson_id = 5000
    quiz_id = 7000
    question_id = 8000
    previous_in_category = {}
    for category, titles in TOPICS.items():
        for title in titles:
            course_id += 1
            instructors = sorted(rng.sample(range(1, 6), rng.choice([1, 1, 2])))
            tables["courses"][course_id] = {
                "id": course_id,
                "title": title,
                "slug": title.lower().replace(" ", "-"),
                "category": category,
                "instructor_ids": instructors,
                "price_cents": rng.choice([0, 1900, 4900, 9900]),
                "published": course_id != 104,
                "rating": round(rng.uniform(3.2, 4.9), 1),
                "first_lesson_id": None,
                "requires": previous_in_category.get(category),
            }
            previous_in_category[category] = course_id
            chain = []
            for top in range(rng.choice([2, 3])):
                module_id += 1
                top_id = module_id
                tables["modules"][top_id] = {
                    "id": top_id, "course_id": course_id, "parent_id": None,
                    "title": f"{title}: part {top + 1}", "position": top,
                }
                parents = [top_id]
                for sub in range(rng.choice([0, 1, 2])):
                    module_id += 1
                    tables["modules"][module_id] = {
                        "id": module_id, "course_id": course_id, "parent_id": top_id,
                        "title": f"{title}: part {top + 1}.{sub + 1}", "position": sub,
                    }
                    parents.append(module_id)
                for parent in parents:
                    for position in range(rng.choice([1, 2, 3])):
                        lesson_id += 1
                        kind = rng.choice(["video", "video", "reading", "quiz"])
                        tables["lessons"][lesson_id] = {
                            "id": lesson_id, "module_id": parent, "course_id": course_id,
                            "title": f"Lesson {lesson_id - 5000}",
                            "kind": kind, "minutes": rng.choice([5, 8, 12, 20]),
                            "position": position, "next_lesson_id": None, "quiz_id": None,
                        }
                        chain.append(lesson_id)
                        if kind == "quiz":
                            quiz_id += 1
                            tables["lessons"][lesson_id]["quiz_id"] = quiz_id
                            questions = []
                            for number in range(rng.choice([2, 3, 4])):
                                question_id += 1
                                questions.append(question_id)
                                tables["questions"][question_id] = {
                                    "id": question_id, "quiz_id": quiz_id,
                                    "prompt": f"Question {number + 1} of quiz {quiz_id}",
                                    "answer": rng.choice("abcd"),
                                    "points": rng.choice([1, 2, 5]),
                                }
                            tables["quizzes"][quiz_id] = {
                                "id": quiz_id, "lesson_id": lesson_id, "course_id": course_id,
                                "question_ids": questions, "pass_percent": 60,
                            }
            for this, following in zip(chain, chain[1:], strict=False):
                tables["lessons"][this]["next_lesson_id"] = following
            tables["courses"][course_id]["first_lesson_id"] = chain[0]

    enrollment_id = 0
    for user_id in range(6, 41):
        for course in rng.sample(sorted(tables["courses"]), rng.choice([1, 2, 3, 4])):
            enrollment_id += 1
            tables["enrollments"][enrollment_id] = {
                "id": enrollment_id, "user_id": user_id, "course_id": course,
                "enrolled_day": 400 + enrollment_id, "licence_id": None,
            }
            lessons = [
                row["id"] for row in tables["lessons"].values() if row["course_id"] == course
            ]
            for lesson in sorted(lessons)[: rng.randint(0, len(lessons))]:
                tables["progress"][len(tables["progress"]) + 1] = {
                    "id": len(tables["progress"]) + 1, "user_id": user_id,
                    "lesson_id": lesson, "course_id": course, "status": "done",
                    "day": 420 + lesson % 50,
                }
                quiz = tables["lessons"][lesson]["quiz_id"]
                if quiz is not None:
                    for _ in range(rng.choice([1, 1, 2])):
                        answers = {
                            str(question): rng.choice("abcd")
                            for question in tables["quizzes"][quiz]["question_ids"]
                        }
                        attempt_id = len(tables["attempts"]) + 1
                        tables["attempts"][attempt_id] = {
                            "id": attempt_id, "quiz_id": quiz, "user_id": user_id,
                            "answers": answers, "day": 430 + attempt_id,
                        }

    post_id = 0
    thread_id = 9000
    for course in sorted(tables["courses"]):
        for number in range(rng.choice([1, 2])):
            thread_id += 1
            students = sorted({row["user_id"] for row in tables["enrollments"].values()
                               if row["course_id"] == course}) or [6]
            post_id += 1
            root = post_id
            tables["posts"][root] = {
                "id": root, "thread_id": thread_id, "parent_id": None,
                "author_id": rng.choice(students), "body": f"Question {number + 1} on {course}",
                "day": 500 + root,
            }
            tables["threads"][thread_id] = {
                "id": thread_id, "course_id": course, "root_post_id": root,
                "title": f"Help with {tables['courses'][course]['title']} #{number + 1}",
                "pinned": number == 0,
            }
            open_posts = [root]
            for _ in range(rng.randint(2, 9)):
                post_id += 1
                parent = rng.choice(open_posts)
                author = rng.choice(students + tables["courses"][course]["instructor_ids"])
                tables["posts"][post_id] = {
                    "id": post_id, "thread_id": thread_id, "parent_id": parent,
                    "author_id": author, "body": f"Reply {post_id}", "day": 500 + post_id,
                }
                open_posts.append(post_id)

    for row in sorted(tables["enrollments"].values(), key=lambda row: row["id"]):
        course_lessons = [
            lesson for lesson in tables["lessons"].values() if lesson["course_id"] == row["course_id"]
        ]
        done = [
            progress for progress in tables["progress"].values()
            if progress["user_id"] == row["user_id"] and progress["course_id"] == row["course_id"]
        ]
        if len(done) == len(course_lessons):
            certificate_id = len(tables["certificates"]) + 1
            tables["certificates"][certificate_id] = {
                "id": certificate_id, "user_id": row["user_id"], "course_id": row["course_id"],
                "serial": f"CRS-{row['course_id']}-{row['user_id']:04d}", "issued_day": 600,
            }

    licence_id = 0
    for company_id in sorted(tables["companies"]):
        for course in sorted(tables["courses"])[company_id - 1::3]:
            licence_id += 1
            tables["licences"][licence_id] = {
                "id": licence_id, "company_id": company_id, "course_id": course,
                "seats": rng.choice([5, 10, 25]), "price_per_seat_cents": rng.choice([900, 1500]),
            }
            for row in sorted(tables["enrollments"].values(), key=lambda row: row["id"]):
                employee = tables["users"][row["user_id"]]
                if row["course_id"] == course and employee["company_id"] == company_id:
                    row["licence_id"] = licence_id
                    seat_id = len(tables["seats"]) + 1
                    tables["seats"][seat_id] = {
                        "id": seat_id, "licence_id": licence_id, "user_id": row["user_id"],
                    }
    return tables


def reset():
    """Forget every write: back to the generated data."""
    global _tables
    _tables = _build()
    reset_query_count()


reset()

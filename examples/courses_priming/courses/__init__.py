"""Coursework: an online learning platform (courses, lessons, quizzes, forums, billing)."""

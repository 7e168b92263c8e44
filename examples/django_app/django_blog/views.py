"""The page: answers and the names of their upvoters."""

from django.http import HttpResponse
from django.utils.html import escape

from . import models


def answers(request):
    aids = [int(aid) for aid in request.GET["ids"].split(",")]
    cards = models.answer_cards(aids)  # one multi-get per level: 2 round trips when warm
    # A second top-level call in the same request: served by the request scope's cache when
    # the page above already read this user's name.
    viewer = models.name_of_user(int(request.GET.get("viewer", 1)))
    lines = [f"<h1>Answers</h1>\n<p>Hello, {escape(viewer)}.</p>"]
    for card in cards:
        names = ", ".join(escape(name) for name in card["upvoters"])
        lines.append(f"<p>Answer {card['answer']}, upvoted by {names}</p>")
    return HttpResponse("\n".join(lines))

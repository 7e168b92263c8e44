"""The Flask application: ``flask --app flask_blog.app run`` (memcached at $MEMCACHED)."""

from flask import Flask, render_template_string, request

from asynq.web import WSGIMiddleware

from . import models

PAGE = """<h1>Answers</h1>
<p>Hello, {{ viewer }}.</p>
{% for card in cards %}<p>Answer {{ card.answer }}, upvoted by {{ card.upvoters | join(", ") }}</p>
{% endfor %}"""


def create_app(middleware=True):
    """The application; ``middleware=False`` leaves out the request scopes (for comparison)."""
    app = Flask(__name__)

    @app.get("/answers")
    def answers():
        aids = [int(aid) for aid in request.args["ids"].split(",")]
        cards = models.answer_cards(aids)  # one multi-get per level: 2 round trips when warm
        # A second top-level call in the same request: served by the request scope's cache
        # when the page above already read this user's name.
        viewer = models.name_of_user(int(request.args.get("viewer", 1)))
        return render_template_string(PAGE, cards=cards, viewer=viewer)

    if middleware:
        # Every HTTP request: one request-local cache per client, write-backs sent at the end.
        app.wsgi_app = WSGIMiddleware(app.wsgi_app, models.mc)
    return app


app = create_app()

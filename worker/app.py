"""The Celery application. Workers also import :mod:`worker.tasks` (see ``include``)."""

from celery import Celery

app = Celery("ecad", include=["worker.tasks"])
app.config_from_object("worker.config")

"""The Celery application. Workers also import :mod:`ecad.worker.tasks` (see ``include``)."""

from celery import Celery, signals

from ecad.worker.watchdog import TaskWatchdog

app = Celery("ecad", include=["ecad.worker.tasks"])
app.config_from_object("ecad.worker.config")

_watchdog: TaskWatchdog | None = None


def watch_task_time_limits() -> None:
    """Enforce ``task_time_limit`` in this worker process: Celery does so only for its process
    pool, so ``ecad worker`` calls this when it runs tasks on threads."""
    global _watchdog
    limit = float(app.conf.task_time_limit)
    _watchdog = TaskWatchdog(limit)
    _watchdog.start(interval_s=min(5.0, max(0.5, limit / 4)))


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, **_):
    if _watchdog is not None:
        _watchdog.started(task_id, getattr(task, "name", "?"))


@signals.task_postrun.connect
def _task_finished(task_id=None, **_):
    if _watchdog is not None:
        _watchdog.finished(task_id)

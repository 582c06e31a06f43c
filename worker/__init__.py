"""The Celery side of ECAD: app, configuration, queue and task names, and thin tasks.

Clients (the scheduler) import :mod:`worker.names` and :mod:`worker.app` only; the tasks module,
which reaches into ``ecad`` and torch, is loaded by worker processes.
"""

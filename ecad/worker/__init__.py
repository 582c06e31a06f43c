"""The Celery side of ECAD: app, configuration, queue and task names, and thin tasks.

Clients (the scheduler) import :mod:`ecad.worker.names` and :mod:`ecad.worker.app` only; the
tasks module, which reaches into the library and torch, is loaded by worker processes.
"""

"""Celery settings (``app.config_from_object("ecad.worker.config")``), all from the environment.

Delivery guarantees: a task is acknowledged only after it finished (``acks_late``) and is put
back if its worker process dies (``task_reject_on_worker_lost``); each worker reserves one task
at a time (prefetch 1). A worker killed outright returns its task only after the Redis
visibility timeout plus kombu's restore interval, so the scheduler also re-enqueues shards that
miss their deadline. The hard time limit stays below the visibility timeout, so Redis never
hands a task that is still running to a second worker. Redelivery is bounded separately (see
``ecad.worker.attempts``).
"""

from __future__ import annotations

import os
from urllib.parse import quote

from ecad.environment import env_int
from ecad.secret_files import load_secret_files
from ecad.worker.names import GPU_QUEUE, RUN_SHARD


def with_redis_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` (``REDIS_PASSWORD``) inserted, unless the URL carries one: the
    compose setup keeps the password in one secret file (secrets/redis_password)."""
    if not password or not url.startswith(("redis://", "rediss://")):
        return url
    scheme, _, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://:{quote(password, safe='')}@{rest}"


load_secret_files()  # a worker or scheduler not started through `ecad` (celery -A ecad.worker.app)
broker_url = with_redis_password(os.environ.get("ECAD_BROKER_URL", "redis://127.0.0.1:6379/0"),
                                 os.environ.get("REDIS_PASSWORD"))
# Nothing reads task return values: results live in the object store, progress in task events
# (Flower) and the broker's inspect API. No result backend unless one is asked for.
result_backend = with_redis_password(os.environ.get("ECAD_RESULT_BACKEND", ""),
                                     os.environ.get("REDIS_PASSWORD")) or None
task_ignore_result = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_concurrency = 1
worker_send_task_events = True
task_send_sent_event = True
broker_connection_retry_on_startup = True

visibility_timeout = env_int("ECAD_VISIBILITY_TIMEOUT", 3600)
broker_transport_options = {"visibility_timeout": visibility_timeout}
task_time_limit = env_int("ECAD_TASK_TIME_LIMIT", visibility_timeout - 300)
task_soft_time_limit = max(1, task_time_limit - 30)
if task_time_limit >= visibility_timeout:
    raise ValueError(
        f"ECAD_TASK_TIME_LIMIT ({task_time_limit}s) must be below ECAD_VISIBILITY_TIMEOUT "
        f"({visibility_timeout}s): a longer task would be handed to a second worker"
    )
result_expires = env_int("ECAD_RESULT_EXPIRES", 3600)  # only with ECAD_RESULT_BACKEND set

# Pool children start as fresh interpreters: a forked child cannot use CUDA once its parent
# (or any library it imported) has touched the driver, which a GPU host showed. The setting
# exists from Celery 5.7 (pyproject pins celery>=5.7; older versions ignore it and fork).
worker_pool_start_method = os.environ.get("ECAD_WORKER_START_METHOD", "spawn")

task_default_queue = GPU_QUEUE
task_routes = {RUN_SHARD: {"queue": GPU_QUEUE}}

"""Asking the broker which workers answer, bounded in time.

Celery's own connection retries wait about 40 s on an unreachable broker; ``ecad status`` must
answer in a few seconds, so the broker is probed once with short socket timeouts first.
"""

from __future__ import annotations

from typing import Any

from ecad.errors import TransientError

__all__ = [
    "BROKER_TIMEOUT_S",
    "active_tasks",
    "ping_workers",
    "refusing_workers",
    "search_leases",
]

#: Seconds ``ecad status`` waits for the broker to accept a connection and answer.
BROKER_TIMEOUT_S = 3.0


def ping_workers(timeout_s: float = BROKER_TIMEOUT_S) -> list[str]:
    """Names of the workers answering a ping; :class:`TransientError` if the broker does not
    answer within ``timeout_s``."""
    return sorted(_inspect("ping", timeout_s))


def active_tasks(timeout_s: float = BROKER_TIMEOUT_S) -> dict[str, list[dict[str, Any]]]:
    """Per answering worker, the tasks it runs now (Celery's ``inspect().active()``);
    :class:`TransientError` as :func:`ping_workers`."""
    return {name: list(tasks or []) for name, tasks in _inspect("active", timeout_s).items()}


def _inspect(method: str, timeout_s: float) -> dict[str, Any]:
    from ecad.worker.app import app

    conn = app.connection_for_write(connect_timeout=timeout_s)
    conn.transport_options.update(
        socket_connect_timeout=timeout_s, socket_timeout=timeout_s, max_retries=0
    )
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s)
        replies = getattr(app.control.inspect(timeout=1.0, connection=conn), method)() or {}
    except Exception as exc:  # kombu/redis raise many types; each means "no answer"
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise TransientError(
            f"broker {_without_password(app.conf.broker_url)} did not answer within "
            f"{timeout_s:g} s ({reason}); workers unknown. Check ECAD_BROKER_URL and that "
            "Redis is running"
        ) from exc
    finally:
        conn.release()
    return replies


def refusing_workers(timeout_s: float = BROKER_TIMEOUT_S) -> list[dict]:
    """Workers that refused tasks lately (e.g. started on another store), as they reported
    them to the broker (:mod:`ecad.worker.refusals`); empty for a broker other than Redis."""
    from ecad.worker.refusals import read_refusals

    return _from_redis(read_refusals, [], timeout_s)


def search_leases(search_ids: list[str], timeout_s: float = BROKER_TIMEOUT_S) -> dict[str, dict]:
    """Per search, the scheduler holding its lease (``{"holder", "expires_in_s"}``,
    :mod:`ecad.scheduler.lease`); searches no scheduler holds are left out."""
    from ecad.scheduler.lease import read_leases

    def read(client) -> dict[str, dict]:
        return {k: v.to_json() for k, v in read_leases(client, search_ids).items()}

    return _from_redis(read, {}, timeout_s)


def _from_redis(read, default, timeout_s: float):
    """``read(client)`` on the broker's Redis; ``default`` for a broker other than Redis."""
    from ecad.worker.app import app

    url = str(app.conf.broker_url)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return default
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return read(client)
    except redis.RedisError as exc:
        raise TransientError(
            f"broker {_without_password(url)} did not answer within {timeout_s:g} s ({exc})"
        ) from exc
    finally:
        client.close()


def _without_password(url: str) -> str:
    """``redis://user:secret@host`` -> ``redis://user:***@host``."""
    from ecad.masking import mask_credentials

    return mask_credentials(url)

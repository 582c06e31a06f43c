"""``ecad status`` answers within its own deadline, whatever the store does.

A store that refuses connections or accepts them and never answers would otherwise hold the
command for the store's whole retry budget (a minute) per object read, printing nothing. The
snapshot is read on a daemon thread given ``ECAD_STATUS_DEADLINE`` seconds (default 10, S3
requests capped to half of it); past that, status says since when the store has not answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from ecad.cli.status_view import StatusSnapshot
from ecad.environment import env_float
from ecad.errors import TransientError

__all__ = ["DEFAULT_STATUS_DEADLINE_S", "BoundedStatus"]

DEFAULT_STATUS_DEADLINE_S = 10.0


class BoundedStatus:
    """Callable giving a :class:`StatusSnapshot` within ``deadline_s``: the store's, or one that
    says ``store unreachable since HH:MM:SS`` (the first read in a row that got no answer)."""

    def __init__(self, store_url: str | None, ids: Sequence[str] | None, workers: bool,
                 deadline_s: float | None = None) -> None:
        if deadline_s is None:
            deadline_s = env_float("ECAD_STATUS_DEADLINE", DEFAULT_STATUS_DEADLINE_S)
        self.store_url, self.ids, self.workers = store_url, ids, workers
        self.deadline_s = max(float(deadline_s), 0.1)
        self.unreachable_since: float | None = None
        self._store: Any = None
        self._reading: threading.Thread | None = None
        self._load_code()

    def _load_code(self) -> None:
        """Import what a read runs before the clock starts: the deadline bounds the store and
        the broker, not imports (seconds on a busy machine)."""
        import importlib

        from ecad.store import default_store_url

        names = ["ecad.cli.status_read", "ecad.search.status"]
        if (self.store_url or default_store_url()).startswith("s3://"):
            names.append("ecad.store.s3")
        if self.workers:
            names += ["ecad.cli.broker", "ecad.worker.app", "ecad.worker.refusals",
                      "ecad.scheduler.lease"]
        for name in names:
            importlib.import_module(name)

    def _read(self, out: dict[str, Any]) -> None:
        from ecad.cli.status_read import read_snapshot
        from ecad.store import open_store

        try:
            if self._store is None:
                self._store = open_store(self.store_url, budget_s=self.deadline_s / 2)
            out["snapshot"] = read_snapshot(self._store, self.ids, self.workers)
        except BaseException as exc:  # handed to the caller's thread
            out["error"] = exc

    def __call__(self) -> StatusSnapshot:
        asked = time.time()
        out: dict[str, Any] = {}
        if self._reading is None or not self._reading.is_alive():  # never two reads at once
            self._reading = threading.Thread(target=self._read, args=(out,), daemon=True,
                                             name="ecad-status-read")
            self._reading.start()
            self._reading.join(self.deadline_s)
        if "snapshot" in out:
            self.unreachable_since = None
            return out["snapshot"]
        error = out.get("error")
        if error is not None and not isinstance(error, TransientError):
            raise error
        self.unreachable_since = self.unreachable_since or asked
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.unreachable_since))
        why = (" ".join(str(error).split()) if error is not None
               else f"no answer within {self.deadline_s:g} s")
        return StatusSnapshot(searches=(), store_error=f"store unreachable since {since} ({why})")


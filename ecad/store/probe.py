"""Is a worker's store the scheduler's store, or a copy of it?

A store copied with ``cp -a`` (or a bucket mirrored) has the same identity (``store.json``), so
the identity check lets a worker on the copy in: it writes its output into the copy, the
scheduler never sees it, and the search stalls. So the scheduler writes a fresh *probe* marker
(``probes/<time>-<nonce>.json``) at least every :data:`PROBE_PERIOD_S` seconds while it sends
tasks, and stamps each task with the latest; a worker that cannot see the task's probe through
its store is on a copy taken before the probe was written, and refuses the task like a worker on
another store. Probes older than :data:`PROBE_KEEP_S` are deleted; a task stamped with one so
old cannot be checked and is let in.
"""

from __future__ import annotations

import re
import secrets
import time

from ecad.store.base import ObjectStore
from ecad.store.keys import PROBES, probe_key

__all__ = ["PROBE_KEEP_S", "PROBE_PERIOD_S", "StoreProbe", "copied_store", "is_probe"]

PROBE_PERIOD_S = 60.0
PROBE_KEEP_S = 24 * 3600.0
_PROBE = re.compile(r"(\d{10})-[0-9a-f]{16}")


def is_probe(value: object) -> bool:
    return isinstance(value, str) and _PROBE.fullmatch(value) is not None


class StoreProbe:
    """The scheduler's side: the current probe, renewed every ``period_s`` seconds."""

    def __init__(self, store: ObjectStore, period_s: float = PROBE_PERIOD_S) -> None:
        self.store, self.period_s = store, period_s
        self._current: str | None = None
        self._written = float("-inf")

    def current(self) -> str:
        now = time.time()
        if self._current is None or now - self._written >= self.period_s:
            probe = f"{int(now):010d}-{secrets.token_hex(8)}"
            self.store.put_json(probe_key(probe), {"written": now})
            self._current, self._written = probe, now
            self._forget_old(now)
        return self._current

    def _forget_old(self, now: float) -> None:
        for key in list(self.store.list(PROBES)):
            name = key[len(PROBES):-len(".json")]
            m = _PROBE.fullmatch(name)
            if m is not None and now - int(m.group(1)) > PROBE_KEEP_S:
                self.store.delete(key)


def copied_store(store: ObjectStore, probe: str | None, seen: set[str]) -> str | None:
    """The worker's side: why ``store`` is not the scheduler's (its probe is not there), else
    None. ``seen``: probes already found (one look per probe per process)."""
    if probe is None or probe in seen:
        return None
    m = _PROBE.fullmatch(probe)
    if m is None or time.time() - int(m.group(1)) > 0.9 * PROBE_KEEP_S:
        return None  # too old to be kept: cannot tell
    if store.exists(probe_key(probe)):
        seen.add(probe)
        return None
    return (f"the scheduler's marker {probe_key(probe)} is not in this worker's store "
            f"{store.describe()}: it has the scheduler's identity but is a copy (cp -a, a "
            "mirrored bucket), not the store itself; start the worker with the scheduler's "
            "ECAD_STORE")

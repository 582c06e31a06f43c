"""One scheduler process drives a search at a time: a lease per search, in Redis.

A scheduler claims a search with ``SET key token NX PX expiry`` and renews it with a
compare-and-set script (extend only if the value is still its own token), so two processes can
never both believe they hold it: Redis runs each command and script atomically. A holder that
dies stops renewing; its lease expires and another scheduler claims it on its next pass.

Why Redis and not the object store: every scheduler already shares the broker's Redis, and
Redis has the atomic compare-and-set a lease needs. The filesystem store's writes are atomic
renames (last writer wins, no conditional write), and S3-compatible stores do not all offer
conditional writes, so a lease in the store could be claimed twice. ``ecad search`` (one process,
no Redis) takes no lease.

A scheduler that loses its lease must not write the search again, not even once: the search's
store is wrapped in :class:`LeasedStore`, which checks the lease before every write (from local
time while well inside the lease, from Redis when it is near its end) and raises
:class:`LeaseLost` otherwise. The remaining window is a process paused between that check and
its write for longer than half the lease; the writes it could then make are those of a
deterministic driver (the same bytes the new holder writes).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ecad.errors import EcadError
from ecad.store import ObjectStore
from ecad.worker.redis_claims import RELEASE_IF_OURS, RENEW_IF_OURS

__all__ = [
    "DEFAULT_LEASE_S",
    "LeaseHolder",
    "LeaseLost",
    "LeasedStore",
    "SearchLeases",
    "lease_key",
    "read_leases",
]

#: :meth:`SearchLeases.hold`'s outcomes.
RENEWED = "renewed"
CLAIMED = "claimed"
#: Seconds a lease lasts unless renewed (``ecad scheduler --lease`` / ``$ECAD_SEARCH_LEASE``).
DEFAULT_LEASE_S = 30.0
_PREFIX = "ecad:lease:search:"


class LeaseLost(EcadError):
    """This scheduler no longer holds the search's lease (it expired and another took it)."""


def lease_key(search_id: str) -> str:
    return f"{_PREFIX}{search_id}"


@dataclass(frozen=True)
class LeaseHolder:
    """Who drives a search: ``holder`` is ``host/pid``; the lease ends in ``expires_in_s``
    unless renewed."""

    holder: str
    expires_in_s: float

    def to_json(self) -> dict[str, Any]:
        return {"holder": self.holder, "expires_in_s": round(self.expires_in_s, 1)}


def _holder_of(token: str) -> str:
    """``host/pid/nonce`` -> ``host/pid``."""
    return token.rsplit("/", 1)[0]


class SearchLeases:
    """This process's leases. ``client``: a ``redis.Redis``; ``expiry_s``: how long a lease
    lasts without renewal. :meth:`hold` claims or renews (call it each pass); :meth:`check`
    guards a write."""

    def __init__(
        self,
        client: Any,
        expiry_s: float = DEFAULT_LEASE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if expiry_s <= 0:
            raise ValueError(f"lease expiry must be > 0 seconds, got {expiry_s}")
        self.client = client
        self.expiry_s = expiry_s
        self.clock = clock
        # host/pid say who holds it; the nonce tells two processes with one pid apart.
        self.token = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.holder = _holder_of(self.token)
        self._valid_until: dict[str, float] = {}
        self._renew = client.register_script(RENEW_IF_OURS)
        self._release = client.register_script(RELEASE_IF_OURS)

    @property
    def _px(self) -> int:
        return max(1, int(self.expiry_s * 1000))

    def hold(self, search_id: str) -> str | None:
        """Renew the search's lease if it is ours (``"renewed"``), else claim it if it is free
        (``"claimed"``: whatever this process knew of the search may be stale, another may
        have driven it meanwhile). None: another process holds it (this one must not drive
        the search)."""
        key, start = lease_key(search_id), self.clock()
        if search_id in self._valid_until and self._renew(keys=[key], args=[self.token, self._px]):
            outcome = RENEWED
        elif self.client.set(key, self.token, nx=True, px=self._px):
            outcome = CLAIMED
        else:
            self._valid_until.pop(search_id, None)
            return None
        # Measured from before the call: Redis's expiry is no earlier than this.
        self._valid_until[search_id] = start + self.expiry_s
        return outcome

    def check(self, search_id: str) -> None:
        """Before a write of the search: raise :class:`LeaseLost` unless this process holds its
        lease. Inside the first half of the lease's life this is a clock read; later it renews
        through Redis, which also proves the lease is still ours."""
        until = self._valid_until.get(search_id)
        if until is not None and until - self.clock() > self.expiry_s / 2:
            return
        # Claimed afresh is lost too: between the expiry and the claim another process may have
        # driven the search, so what this one was about to write may be stale.
        if until is None or self.hold(search_id) != RENEWED:
            raise LeaseLost(
                f"search {search_id}: this scheduler ({self.holder}) no longer holds its lease; "
                "another scheduler drives it now"
            )

    def release(self, search_id: str) -> None:
        """Give the lease back (the search is over, or this process stops)."""
        if self._valid_until.pop(search_id, None) is not None:
            self._release(keys=[lease_key(search_id)], args=[self.token])

    def release_all(self) -> None:
        for search_id in list(self._valid_until):
            self.release(search_id)

    def held(self) -> list[str]:
        return sorted(self._valid_until)


def read_leases(client: Any, search_ids: Iterable[str]) -> dict[str, LeaseHolder]:
    """Who holds each search's lease now (searches with none are left out)."""
    ids = list(search_ids)
    if not ids:
        return {}
    pipe = client.pipeline(transaction=False)
    for search_id in ids:
        pipe.get(lease_key(search_id))
        pipe.pttl(lease_key(search_id))
    replies = pipe.execute()
    out = {}
    for search_id, token, pttl in zip(ids, replies[::2], replies[1::2]):
        if token is not None and pttl is not None and pttl > 0:
            text = token.decode() if isinstance(token, bytes) else str(token)
            out[search_id] = LeaseHolder(_holder_of(text), pttl / 1000.0)
    return out


class LeasedStore(ObjectStore):
    """The store as one search's driver sees it in the scheduler: every write checks first that
    this process still holds the search's lease (:meth:`SearchLeases.check`)."""

    def __init__(self, store: ObjectStore, search_id: str, leases: SearchLeases) -> None:
        self.inner = store
        self.search_id = search_id
        self.leases = leases

    def put(self, key: str, data: bytes) -> None:
        self.leases.check(self.search_id)
        self.inner.put(key, data)

    def delete(self, key: str) -> None:
        self.leases.check(self.search_id)
        self.inner.delete(key)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        return self.inner.list(prefix)

    def describe(self) -> str:
        return self.inner.describe()

    def __getattr__(self, name: str) -> Any:  # backend extras (probes, identity, urls)
        return getattr(self.inner, name)

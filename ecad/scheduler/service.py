"""The scheduler service: drives every active search in the store through its generations with
the search driver (:class:`ecad.search.SearchDriver`) and the Celery executor.

The store is the source of truth. On each tick the service re-sends tasks the broker lost
(:mod:`ecad.scheduler.queue_watch`) and tasks past their deadline whose outputs are still missing,
then steps each active search's driver once (once more when a generation completes, so the next
one is queued at once). Searches are isolated: one that breaks is logged (once per change) or
marked failed, and the others go on. Restarting the service, Redis or the
workers loses nothing: a new driver finds the same missing shards and queues them again.

With ``leases`` (:mod:`ecad.scheduler.lease`; ``ecad scheduler`` always has them) one process
drives a search at a time: a search whose lease another scheduler holds is left to it, and taken
over once that lease expires; every write of a driven search checks the lease first.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ecad.errors import TransientError
from ecad.scheduler.dispatch import LOST_QUEUE, Dispatcher
from ecad.scheduler.executor import CeleryExecutor
from ecad.scheduler.lease import CLAIMED, LeasedStore, LeaseLost, SearchLeases
from ecad.scheduler.queue_watch import QueueWatch
from ecad.search import SearchDriver, SearchSession
from ecad.search.failures import failed_tasks
from ecad.search.markers import mark_failed, stopped_reason
from ecad.search.observer import NullObserver, SearchObserver
from ecad.store import MissingObjectError, ObjectStore
from ecad.store.identity import ensure_store_identity
from ecad.store.keys import attempts_key, task_output_key
from ecad.store.probe import StoreProbe
from ecad.store.records import RecordError, StoreObjectError, read_record, require

log = logging.getLogger(__name__)

__all__ = ["SchedulerService"]


class SchedulerService:
    def __init__(
        self,
        store: ObjectStore,
        dispatcher: Dispatcher,
        observer: SearchObserver | None = None,
        rescan_s: float = 5.0,
        watch: QueueWatch | None = None,
        leases: SearchLeases | None = None,
    ) -> None:
        """``rescan_s``: how often the store is listed for newly submitted searches;
        ``watch``: notices a broker that lost queued tasks (None: only deadlines re-send);
        ``leases``: drive only the searches whose lease this process holds (None: every one,
        for a single scheduler)."""
        self.store = store
        self.leases = leases
        self.dispatcher = dispatcher
        self.watch = watch
        self.store_id = ensure_store_identity(store)
        self.probe = StoreProbe(store)
        dispatcher.stamp = self._stamp
        self.observer = observer or NullObserver()
        self.rescan_s = rescan_s
        self.drivers: dict[str, SearchDriver] = {}
        self.over: set[str] = set()  # searches seen finished or cancelled
        self._ids: list[str] = []
        self._listed_at = float("-inf")
        self.cpu_seconds = 0.0
        self._errors: dict[str, str] = {}  # the last message logged per search

    def _stamp(self, args: list) -> list:
        """A shard task's message with the store's current probe: a worker on a copy of the
        store cannot see it (:mod:`ecad.store.probe`)."""
        if args and isinstance(args[0], dict) and "search_id" in args[0]:
            return [{**args[0], "store_probe": self.probe.current()}, *args[1:]]
        return args

    def active_searches(self, rescan: bool = False) -> list[str]:
        now = time.monotonic()
        if rescan or now - self._listed_at >= self.rescan_s:
            self._ids = SearchSession.list_ids(self.store)
            self._listed_at = now
        return [sid for sid in self._ids if sid not in self.over]

    def _driver(self, search_id: str) -> SearchDriver | None:
        """The search's driver (None: it is marked failed or cancelled and cannot be opened)."""
        driver = self.drivers.get(search_id)
        if driver is None:
            if (reason := stopped_reason(self.store, search_id)) is not None:
                self._note(search_id, logging.INFO, f"not driven: {reason}")
                return None
            session = SearchSession.open(self._store_of(search_id), search_id)
            driver = SearchDriver(
                session, CeleryExecutor(session.plan, self.dispatcher, self.store_id), self.observer
            )
            self.drivers[search_id] = driver
        else:
            driver.session.reload()  # another process may have cancelled or advanced it
        return driver

    def _store_of(self, search_id: str) -> ObjectStore:
        """The store as the search's driver writes it: through its lease, if there are leases."""
        if self.leases is None:
            return self.store
        return LeasedStore(self.store, search_id, self.leases)

    def _leave(self, search_id: str, message: str) -> None:
        """Another scheduler drives the search: forget it here (opened afresh if it comes back)."""
        self.drivers.pop(search_id, None)
        self.dispatcher.forget_search(search_id)
        self._note(search_id, logging.INFO, message)

    # one pass ------------------------------------------------------------------------------
    def tick(self) -> bool:
        """Advance every active search once. Returns True if any search is still active.

        Searches are isolated: whatever one raises is about that search (logged once per
        change, not per tick) and the others go on. A search whose authoritative objects
        (state, spec, cost table) are unreadable is marked failed with the reason. Only an
        unavailable store or broker stops the pass (``run_forever`` waits and retries)."""
        started = time.process_time()
        active = False
        try:
            self._check_broker()
            self._resend_overdue()
            failed = failed_tasks(self.store)
            for search_id in self.active_searches():
                still = self._guarded_step(search_id, failed)
                if not still:
                    self.over.add(search_id)
                    self.drivers.pop(search_id, None)
                    if self.leases is not None:
                        self.leases.release(search_id)
                active |= still
        finally:
            self.cpu_seconds += time.process_time() - started
        return active

    def _guarded_step(self, search_id: str, failed: set[str]) -> bool:
        try:
            if self.leases is not None:
                held = self.leases.hold(search_id)
                if held is None:
                    self._leave(search_id, "driven by another scheduler (it holds the lease)")
                    return True
                if held == CLAIMED:  # another may have driven it since: open it afresh
                    self.drivers.pop(search_id, None)
            still = self._step(search_id, failed)
        except LeaseLost as exc:
            self._leave(search_id, str(exc))
            return True
        except TransientError:
            raise
        except StoreObjectError as exc:
            try:
                self._fail(search_id, str(exc))
            except LeaseLost as lost:  # another scheduler drives it now: its call
                self._leave(search_id, str(lost))
                return True
            return False
        except Exception as exc:
            if _is_broker_error(exc):
                raise
            self.drivers.pop(search_id, None)  # opened afresh next tick
            self._note(search_id, logging.ERROR, f"{type(exc).__name__}: {exc}")
            return True
        if self._errors.pop(search_id, None) is not None:
            log.info("search %s: advancing again", search_id)
        return still

    def _fail(self, search_id: str, reason: str) -> None:
        """Mark the search failed (its authoritative objects are unreadable); the others go on."""
        mark_failed(self._store_of(search_id), search_id, reason)
        self._note(search_id, logging.ERROR, f"marked failed: {reason}")

    def _note(self, search_id: str, level: int, message: str) -> None:
        """Log a message about a search once per change, not once per tick."""
        if self._errors.get(search_id) != message:
            self._errors[search_id] = message
            log.log(level, "search %s: %s", search_id, message)

    def _step(self, search_id: str, failed: set[str]) -> bool:
        """Step; once a generation completes, step again at once so the next one is queued
        now rather than a tick later (the workers are idle until it is)."""
        driver = self._driver(search_id)
        if driver is None:
            return False
        while True:
            before = driver.session.generation
            active = driver.step(failed)
            if not active or driver.session.generation == before:
                return active

    def _check_broker(self) -> None:
        """Re-send at once the tasks the broker lost (see :mod:`ecad.scheduler.queue_watch`)."""
        watch = self.watch
        if watch is None or not watch.due():
            return
        sent = [e.sent_at for e in self.dispatcher.in_flight.values() if e.sends]
        found = watch.lost(len(sent), min(sent, default=None))
        if found is None:
            return
        moment, reason = found
        keys = self.dispatcher.sent_before(moment)
        log.warning("%s; re-sending the %d shard tasks sent before it", reason, len(keys))
        for key in keys:
            if self.store.exists(task_output_key(key)):
                self.dispatcher.finished(key)
            else:
                self.dispatcher.resend(key, LOST_QUEUE, reason)

    def _resend_overdue(self) -> None:
        """Re-send the overdue tasks whose copy is lost or stuck; not one still queued (its copy
        would queue behind it, and both would count towards the redelivery limit)."""
        for key in self.dispatcher.overdue():
            if self.store.exists(task_output_key(key)):
                self.dispatcher.done(key)
                continue
            entry = self.dispatcher.in_flight[key]
            if not entry.sends:  # its first send failed (broker down): send it now
                self.dispatcher.resend(key)
                continue
            starts = self._starts(key)
            if not entry.started and starts > entry.starts_seen:
                self.dispatcher.started(key, starts)  # it runs: the deadline counts from now
            elif not entry.started and not self.dispatcher.queued_too_long(key):
                self.dispatcher.hold(key)
            else:
                self.dispatcher.resend(key, starts=starts)

    def _starts(self, task_key: str) -> int:
        """How many times workers started the task (its ``attempts/`` record; 0 if none)."""
        try:
            return read_record(self.store, attempts_key(task_key), _counted_starts)
        except (MissingObjectError, StoreObjectError):
            return 0

    def run_forever(self, poll_s: float = 0.5, should_stop: Any = lambda: False) -> None:
        try:
            self._run(poll_s, should_stop)
        finally:  # stopping: another scheduler may take the searches over at once
            if self.leases is not None:
                try:
                    self.leases.release_all()
                except Exception as exc:  # Redis down: the leases expire by themselves
                    log.warning("could not give the search leases back (%s)", exc)

    def _run(self, poll_s: float, should_stop: Any) -> None:
        backoff = poll_s
        while not should_stop():
            try:
                self.tick()
                backoff = poll_s
            except TransientError as exc:
                backoff = min(30.0, backoff * 2)
                log.warning("store unavailable (%s); retrying in %.1fs", exc, backoff)
            except Exception as exc:  # broker down: kombu/redis raise their own types
                if not _is_broker_error(exc):
                    raise
                backoff = min(30.0, backoff * 2)
                log.warning("broker unavailable (%s); retrying in %.1fs", exc, backoff)
            time.sleep(backoff)


def _is_broker_error(exc: Exception) -> bool:
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return bool(
        names
        & {
            "OperationalError",
            "ConnectionError",
            "TimeoutError",
            "ConnectionRefusedError",
            "BusyLoadingError",
        }
    )


def _counted_starts(data: Any) -> int:
    """The start count of an ``attempts/`` record (written by the workers)."""
    starts = require(data, "starts", int)
    if starts < 0:
        raise RecordError(f"starts must be >= 0, got {starts}")
    return starts

"""Tenant readiness: resolve under a deadline, record transitions, answer set_ready.

Nothing here reaches global readiness state or metrics: inheritance asks the
global checks a read-only question. Any failure degrades only this tenant to error.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..chaos.faults import fault_for, inject
from ..deadlines import DeadlineRunner, InlineRunner
from ..settings import Settings
from ..store import Store, StoreUnavailable
from ..tenants.registration import ensure_tenant
from .resolution import ERROR, TenantStatus, resolve
from .single_flight import SingleFlight

log = logging.getLogger(__name__)

# Bounds of tenant_readiness_check_duration_seconds (seconds).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class TenantReadiness:
    def __init__(self, store: Store, settings: Settings, global_ready: Callable[[], bool],
                 timeout: float = 2.0, clock: Callable[[], float] = time.perf_counter):
        self._store = store
        self._settings = settings
        self._global_ready = global_ready
        self._timeout = timeout
        self._clock = clock
        # One resolution per tenant in flight, so tenants that hang hold one thread each
        # and never the one another tenant's resolution needs. Without chaos the only
        # wait is the store's, bounded by the deadline there: the resolution runs on the
        # request thread. Injected faults hang in Python, where nothing bounds them but
        # leaving them behind on a thread of their own.
        self._runner = DeadlineRunner(
            "tenant-readiness", max_threads=settings.max_tenant_labels + 16) \
            if settings.chaos_enabled else InlineRunner()
        self._flights: SingleFlight[TenantStatus] = SingleFlight(
            self._runner, timeout,
            failed=lambda tenant: TenantStatus(tenant, ERROR, "resolution_failed"),
            timed_out=self._timed_out, on_end=self._ended,
            # The share of a worker's request threads one tenant may hold (sec. 17).
            max_askers=settings.tenant_thread_share)
        self._recorders: set[threading.Thread] = set()  # threads recording an error
        self._recorders_lock = threading.Lock()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the resolver threads, and wait (bounded) for errors still being recorded:
        none may write to a store that is being closed."""
        self._runner.close()
        with self._recorders_lock:
            recorders = list(self._recorders)
        for thread in recorders:
            thread.join(timeout)

    def readyz(self, tenant: str) -> TenantStatus:
        started, deadline = self._clock(), time.monotonic() + self._timeout
        if self._settings.chaos_enabled:
            work = lambda: self._resolve_guarded(tenant, inject_faults=True)  # noqa: E731
        else:
            work = lambda: self._resolve_bounded(tenant, deadline)  # noqa: E731
        answer = self._flights.ask(tenant, work)
        if answer is None:
            return TenantStatus(tenant, ERROR, "timeout")
        status, resolved = answer
        if self._settings.tenant_readiness_histogram and resolved \
                and status.reason != "unknown_tenant":
            self._observe(tenant, self._clock() - started, deadline)
        return status

    def _timed_out(self, tenant: str) -> TenantStatus:
        log.warning("tenant %s: readiness resolution exceeded %.1fs", tenant, self._timeout)
        return TenantStatus(tenant, ERROR, "timeout")

    def _ended(self, tenant: str, status: TenantStatus) -> None:
        if status.status == ERROR and status.reason in ("timeout", "resolution_failed"):
            self._remember_error(tenant)

    def _remember_error(self, tenant: str) -> None:
        """Record "error" as the tenant's observed status, so its scrape-time state is 0.

        In the background: the store itself may be what is stuck.
        """
        def record() -> None:
            try:
                row = self._store.tenant_readiness.get(tenant)
                if row is not None and row.status != ERROR:
                    self._store.tenant_readiness.record_status(tenant, row.status, ERROR,
                                                               row.transitions)
            except Exception as exc:  # best effort: whatever failed the resolution may fail here
                log.warning("tenant %s: error status not recorded: %s", tenant, exc)

        def record_and_forget() -> None:
            try:
                record()
            finally:
                with self._recorders_lock:
                    self._recorders.discard(threading.current_thread())

        thread = threading.Thread(target=record_and_forget, daemon=True,
                                  name="tenant-readiness-error")
        with self._recorders_lock:
            self._recorders.add(thread)
        thread.start()

    def set_ready(self, tenant: str, ready: bool | None,
                  actor: str) -> tuple[TenantStatus, bool]:
        readiness, audit = self._store.tenant_readiness, self._store.audit

        def write(row, observed: tuple[str, ...]) -> bool | None:
            # The override, with the statuses observed before and after it (the change
            # itself counts as a transition), and its audit entry.
            changed = readiness.override(row, ready, observed)
            if changed:
                audit.record("readiness_override", tenant, ["ready"], actor)
            return changed

        # First from the row as read outside any write: a call that changes nothing takes
        # no transaction at all, and one that does takes the shared one (below) for one
        # compare-and-set and its audit entry, nothing read or resolved while it holds it.
        try:
            row = readiness.get(tenant)
        except Exception:  # answered from the read inside the transaction
            row = None
        if row is not None:
            after, observed = self._statuses(row, ready)
            if not readiness.writes(row, ready, observed):
                return after, False
            changed = self._store.group_commit.run(lambda: write(row, observed))
            if changed is not None:
                return after, changed

        def change(registered: bool) -> tuple[TenantStatus, bool] | None:
            # The row read again inside the transaction: its first read failed, found no
            # tenant, or the row changed before the compare-and-set.
            try:
                row = readiness.get(tenant)
            except Exception as exc:  # its resolution failed: the override is set all the same
                if not registered:
                    return None  # not known to be registered: ensure_tenant first
                changed = readiness.set_override(tenant, ready)
                if changed:
                    audit.record("readiness_override", tenant, ["ready"], actor)
                return self._failed(tenant, exc), changed
            if row is None:  # not registered yet (or purged since): ensure_tenant first
                return None if not registered else (resolve(tenant, None, bool), False)
            after, observed = self._statuses(row, ready)
            changed = write(row, observed)
            assert changed is not None  # read in this transaction: the row stands
            return after, changed

        # Shared with the calls of other threads meanwhile, each in its own savepoint, and
        # answered once that transaction has committed.
        done = self._store.group_commit.run(lambda: change(registered=False))
        if done is not None:
            return done
        # A new id is registered on its own, outside the shared transaction: a refusal by
        # the label cap is counted even though the request fails. Then the change.
        ensure_tenant(self._store, self._settings, tenant, actor)
        done = self._store.group_commit.run(lambda: change(registered=True))
        assert done is not None
        return done

    def _statuses(self, row, ready: bool | None) -> tuple[TenantStatus, tuple[str, ...]]:
        """The status of ``row`` with its override set to ``ready``, and the statuses to
        record: before and after the change, each only if it resolved (as a probe records
        only what it resolved)."""
        before, before_ok = self._resolve_row(row)
        after, after_ok = self._resolve_row(row.with_override(ready))
        return after, tuple(s.status for s, ok in ((before, before_ok), (after, after_ok)) if ok)

    def current(self, rows) -> list[TenantStatus]:
        """Statuses of stored rows for the scrape; global readiness asked once.

        A tenant last observed in error stays in error here until a probe of its
        readyz resolves it again: the scrape never hides a failing tenant.
        """
        global_ready = self._global_ready()
        return [TenantStatus(row.tenant_id, ERROR, "last_observed") if row.status == ERROR
                else self._record(row, resolve(row.tenant_id, row, lambda: global_ready))
                for row in rows]

    def _resolve_row(self, row) -> tuple[TenantStatus, bool]:
        """(``row``'s status, resolved): a failure (of the global checks asked) is this
        tenant's error only, never raised."""
        try:
            return resolve(row.tenant_id, row, self._global_ready), True
        except Exception as exc:  # any failure resolving this tenant is its error only
            return self._failed(row.tenant_id, exc), False

    @staticmethod
    def _failed(tenant: str, exc: Exception) -> TenantStatus:
        if isinstance(exc, StoreUnavailable):
            return TenantStatus(tenant, ERROR, "store_unavailable")
        log.error("tenant %s: readiness resolution failed", tenant, exc_info=exc)
        return TenantStatus(tenant, ERROR, "resolution_failed")

    def _resolve_guarded(self, tenant: str,
                         inject_faults: bool = False) -> tuple[TenantStatus, bool]:
        """(status, resolved): a failure is this tenant's error only, never raised."""
        try:
            return self._resolve_and_record(tenant, inject_faults), True
        except Exception as exc:  # any failure resolving this tenant is its error only
            return self._failed(tenant, exc), False

    def _resolve_bounded(self, tenant: str, deadline: float) -> tuple[TenantStatus, bool]:
        """Resolved on this thread, every store wait ending at ``deadline``: a store that
        gave up there is this tenant's ``timeout``, as a resolution left behind is."""
        try:
            with self._store.db.bounded(deadline):
                # A probe's resolution (faults are injected only with chaos, never here).
                answer = self._resolve_guarded(tenant, inject_faults=True)
        except StoreUnavailable:  # this thread's connection could not even be opened
            answer = TenantStatus(tenant, ERROR, "store_unavailable"), False
        if answer[0].reason == "store_unavailable" and time.monotonic() >= deadline:
            return self._timed_out(tenant), False
        return answer

    def _resolve_and_record(self, tenant: str, inject_faults: bool = False) -> TenantStatus:
        if inject_faults and self._settings.chaos_enabled:
            self._inject(tenant)
        row = self._store.tenant_readiness.get(tenant)
        status = resolve(tenant, row, self._global_ready)
        return self._record(row, status) if row is not None else status

    def _record(self, row, status: TenantStatus) -> TenantStatus:
        if row.status != status.status:
            self._store.tenant_readiness.record_status(row.tenant_id, row.status,
                                                       status.status, row.transitions)
        return status

    def _inject(self, tenant: str) -> None:
        record = self._store.tenants.get(tenant)
        fault = fault_for(record.extra, "readiness") if record else None
        if fault:
            inject(fault, self._store, tenant)

    def _observe(self, tenant: str, seconds: float, deadline: float) -> None:
        bucket = next((i for i, bound in enumerate(DURATION_BUCKETS) if seconds <= bound),
                      len(DURATION_BUCKETS))
        try:
            # A write on the request thread: it gives up at the probe's deadline too,
            # rather than hold an answer already known behind a lock another writer holds.
            with self._store.db.bounded(deadline):
                self._store.tenant_readiness.observe_duration(tenant, bucket, seconds)
        except StoreUnavailable as exc:
            log.warning("tenant %s: duration not recorded: %s", tenant, exc)

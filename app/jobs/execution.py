"""Running one claimed job: its tenant's runtime, its kind's limit, its tenant's context.

A job is claimed with a permit of its kind's limit already held (``admit``, asked inside
the claim: a job with no permit free is not claimed at all). Every way a try can end is
recorded against the lease (app/store/job_leases.py): done with the handler's result;
given back untried when the tenant cannot be served here now (the try does not count);
failed at once on
JobFailed; otherwise queued again with exponential backoff until JOB_MAX_ATTEMPTS,
then failed with the error's type.
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator

from flask import g

from ..limits.limiter import Limiter
from ..limits.pair import LimitRefused, hold
from ..runtime.context import TenantContext, use_tenant
from ..runtime.registry import TenantDisabled, TenantNotFound, TenantPending, TenantUnavailable
from ..settings import Settings
from ..store import Claim, Store, StoreUnavailable
from .kinds import JobFailed, JobKinds, TenantJob, UnknownJobKind

log = logging.getLogger(__name__)

# A permit the handler itself was refused is asked again this soon.
PERMIT_RETRY_SECONDS = 0.2
# A tenant this worker cannot serve now (pending, disabled meanwhile) is looked at again.
TENANT_RETRY_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
MAX_WAITING_REMEMBERED = 10_000
NOT_SERVABLE = (TenantDisabled, TenantNotFound, TenantPending, TenantUnavailable)


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before try ``attempts + 1``: JOB_RETRY_SECONDS doubled at each try."""
    return min(settings.job_retry_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class JobExecution:
    def __init__(self, store: Store, settings: Settings, kinds: JobKinds, tenants,
                 limiter: Limiter, app_context: Callable[[], ContextManager]):
        self._store = store
        self._settings = settings
        self._kinds = kinds
        self._tenants = tenants
        self._limiter = limiter
        self._app_context = app_context
        self._waiting: set[str] = set()  # jobs refused a permit, counted once

    def admit(self, tenant: str, kind_name: str, job_id: str):
        """A permit of the kind's limit for the job, held (or None: none is free now).
        Asked inside the claim, so it never waits. A job kept waiting is counted once in
        tenant_limit_rejections_total (per worker), not at every look."""
        try:
            kind = self._kinds.get(kind_name)
        except UnknownJobKind:
            return nullcontext()  # claimed, then failed by run()
        if kind.limit is None:
            return nullcontext()
        record = self._store.tenants.get(tenant)
        if record is None:
            return None  # purged meanwhile: its jobs are going with it
        permit = hold(self._limiter.steps(tenant, record.limits, kind.limit), 0.0)
        try:
            permit.__enter__()
        except LimitRefused as refused:
            if job_id not in self._waiting:
                if len(self._waiting) >= MAX_WAITING_REMEMBERED:
                    self._waiting.clear()
                self._waiting.add(job_id)
                self._limiter.counter.add(tenant, refused.limit, refused.scope)
            return None
        self._waiting.discard(job_id)
        return permit

    def run(self, claim: Claim) -> str | None:
        """Run the claimed job once, under the permit its claim holds, which is given back
        at the end; returns the state the job was left in (None: lease lost)."""
        try:
            return self._run(claim)
        finally:
            if claim.permit is not None:
                claim.permit.__exit__(None, None, None)

    def _run(self, claim: Claim) -> str | None:
        leases, now = self._store.job_leases, time.time
        try:
            kind = self._kinds.get(claim.kind)
            runtime = self._tenants.runtime(claim.tenant_id)
            job = TenantJob(claim.job_id, claim.tenant_id, claim.workspace, claim.kind,
                            claim.payload, claim.attempts, runtime)
            with self._context(job):
                result = kind.handler(job)
                json.dumps(result)  # TypeError: a result the store cannot hold fails the try
        except NOT_SERVABLE as exc:
            log.info("job %s: tenant %s not servable here now (%s); later",
                     claim.job_id, claim.tenant_id, type(exc).__name__)
            return self._released(claim, TENANT_RETRY_SECONDS)
        except LimitRefused:  # a limit the handler itself takes
            return self._released(claim, PERMIT_RETRY_SECONDS)
        except StoreUnavailable as exc:  # the store is out: no try could have been fair
            log.warning("job %s: store unavailable: %s", claim.job_id, exc)
            return self._released(claim, TENANT_RETRY_SECONDS)
        except UnknownJobKind as exc:  # registered by another app version: no try would do
            log.error("job %s: %s: %s", claim.job_id, type(exc).__name__, exc)
            return "failed" if leases.fail(claim, type(exc).__name__, now()) else None
        except JobFailed as exc:
            return "failed" if leases.fail(claim, exc.error, now()) else None
        except Exception as exc:  # noqa: BLE001 - any failure of a team's handler is a try
            log.warning("job %s of tenant %s (%s) failed try %d: %s", claim.job_id,
                        claim.tenant_id, claim.kind, claim.attempts, type(exc).__name__)
            return leases.retry(claim, type(exc).__name__, now(),
                                backoff(self._settings, claim.attempts),
                                self._settings.job_max_attempts)
        if leases.finish(claim, result, now()):
            return "done"
        log.warning("job %s: lease lost before it finished; its result is not recorded",
                    claim.job_id)
        return None

    @contextmanager
    def _context(self, job: TenantJob) -> Iterator[None]:
        """The app context with the job's tenant on it, as a tenant request has: the
        TenantContext (``current_tenant()``) and the runtime (``tenant_runtime()``)."""
        with self._app_context():
            g.tenant_runtime = job.runtime
            with use_tenant(TenantContext(job.tenant, job.workspace)):
                yield

    def _released(self, claim: Claim, delay: float) -> str | None:
        try:
            return "queued" if self._store.job_leases.release(claim, time.time(), delay) else None
        except StoreUnavailable as exc:
            log.warning("job %s not given back (its lease will expire): %s", claim.job_id, exc)
            return None

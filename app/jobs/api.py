"""The job API for application teams (contract sec. 13).

    from app.jobs import register_tenant_job, submit_tenant_job

    def grade(job):                     # runs under the job's tenant context
        return {"score": score(job.payload["exam"])}

    register_tenant_job(app, "grade", grade, limit="llm_student")

    # inside a tenant request, or a use_tenant(...) block:
    job_id = submit_tenant_job("grade", {"exam": "e1"})

The job is written in the current store write, if one is open (so it commits with the
request's own writes), else in a write of its own; it is acknowledged once that commits.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Flask

from ..runtime.context import current_tenant
from ..services import services, services_of
from ..settings import DEFAULT_TENANT_LIMITS
from .kinds import JobKind, TenantJob


def register_tenant_job(app: Flask, kind: str, handler: Callable[[TenantJob], Any],
                        limit: str | None = None) -> JobKind:
    """Run ``handler(job)`` for every job of ``kind``, under the tenant's context and, if
    ``limit`` names one, a permit of that limit (tenant then global, sec. 6). A job
    whose permit is not free waits without using up a try. The handler's return value
    (JSON) is the job's result; raising retries it (JOB_MAX_ATTEMPTS), raising
    JobFailed fails it at once. Handlers must be idempotent: a job whose worker dies
    is run again."""
    found = services_of(app)
    if limit is not None and limit not in found.settings.global_limits \
            and limit not in DEFAULT_TENANT_LIMITS:
        raise ValueError(f"job kind {kind!r}: no limit named {limit!r}")
    return found.jobs.kinds.register(kind, handler, limit)


def submit_tenant_job(kind: str, payload: Any, job_id: str | None = None) -> str:
    """Queue a job of ``kind`` for the current tenant; returns its id. Raises
    UnknownJobKind for a kind nobody registered, TypeError/ValueError for a payload
    that is not JSON, and RuntimeError outside a tenant context in strict mode."""
    context = current_tenant("jobs.submit")
    return services().jobs.submit(context.tenant, context.workspace, kind, payload, job_id)


def tenant_job(job_id: str) -> dict | None:
    """The current tenant's job as a status answer shows it (None: no such job)."""
    record = services().store.jobs.get(current_tenant("jobs.status").tenant, job_id)
    return record.public() if record else None

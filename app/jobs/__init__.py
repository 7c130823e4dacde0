"""Durable tenant jobs (contract sec. 13): recorded in the store with the request that
creates them, claimed under a lease by any worker of any host, fair between tenants."""
from __future__ import annotations

from .api import register_tenant_job, submit_tenant_job, tenant_job
from .execution import JobExecution
from .kinds import JobFailed, JobKinds, TenantJob, UnknownJobKind
from .metrics import JobCollector
from .runner import JobRunner

__all__ = ["JobCollector", "JobExecution", "JobFailed", "JobKinds", "JobRunner", "TenantJob",
           "UnknownJobKind", "register_tenant_job", "submit_tenant_job", "tenant_job"]

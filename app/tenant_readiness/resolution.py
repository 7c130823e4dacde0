"""The tenant readiness resolution order (contract sec. 4), as a pure function."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..store.tenant_readiness import ReadinessRow

READY, NOT_READY, UNKNOWN, ERROR = "ready", "not ready", "unknown", "error"


@dataclass(frozen=True)
class TenantStatus:
    tenant: str
    status: str
    reason: str

    @property
    def ready(self) -> bool:
        return self.status == READY

    def as_dict(self) -> dict:
        return {"tenant": self.tenant, "status": self.status, "reason": self.reason}


def resolve(tenant: str, row: ReadinessRow | None,
            global_ready: Callable[[], bool]) -> TenantStatus:
    """First match wins: unknown, disabled, override, health, then inherited."""
    if row is None:
        return TenantStatus(tenant, UNKNOWN, "unknown_tenant")
    if not row.enabled:
        return TenantStatus(tenant, NOT_READY, "disabled")
    if row.ready_override is not None:
        return TenantStatus(tenant, READY if row.ready_override else NOT_READY, "override")
    if row.health == "disabled":
        return TenantStatus(tenant, NOT_READY, "health")
    if row.health == "unverified":
        return TenantStatus(tenant, ERROR, "check_failed")
    return TenantStatus(tenant, READY if global_ready() else NOT_READY, "inherited")

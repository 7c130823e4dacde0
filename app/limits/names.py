"""Limit names, their nesting (role under total), and each tenant's effective limits."""
from __future__ import annotations

from typing import Mapping

from ..settings import DEFAULT_TENANT_LIMITS

# Refusals by the per-tenant thread share are counted under this limit name
# (tenant_limit_rejections_total{limit="requests"}): no configured limit may take it.
THREAD_SHARE_LIMIT = "requests"
RESERVED_NAMES = frozenset({THREAD_SHARE_LIMIT})


def total_of(name: str, known: Mapping[str, int]) -> str | None:
    """The total a role nests under: ``llm_student`` -> ``llm_total`` when that exists."""
    family, sep, _ = name.rpartition("_")
    if not sep or name.endswith("_total"):
        return None
    total = f"{family}_total"
    return total if total in known else None


def tenant_limits(overrides: Mapping[str, int]) -> dict[str, int]:
    return {**DEFAULT_TENANT_LIMITS, **overrides}


def chain(name: str, tenant: Mapping[str, int], server: Mapping[str, int]) -> list[tuple[str, str]]:
    """The fixed acquisition order as (scope, limit): tenant total, tenant role, global
    total, global role. A scope without that limit is skipped."""
    steps = []
    for scope, limits in (("tenant", tenant), ("global", server)):
        if name not in limits:
            continue  # an unknown name must not fall back to its family's total
        total = total_of(name, limits)
        if total:
            steps.append((scope, total))
        steps.append((scope, name))
    return steps

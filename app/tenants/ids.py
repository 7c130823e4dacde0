"""Tenant and workspace identifiers (contract sec. 2): DNS labels, checked before any state."""
from __future__ import annotations

from ..errors import ApiError
from ..settings import TENANT_ID_PATTERN


def is_valid_id(value: object) -> bool:
    # fullmatch: ``$`` in the pattern also matches before a trailing newline ("acme\n").
    return isinstance(value, str) and len(value) <= 63 \
        and TENANT_ID_PATTERN.fullmatch(value) is not None


def check_tenant_id(value: object) -> str:
    if not is_valid_id(value):
        raise ApiError(400, "invalid_tenant_id")
    return value  # type: ignore[return-value]


def check_workspace_id(value: object) -> str:
    if not is_valid_id(value):
        raise ApiError(400, "invalid_workspace_id")
    return value  # type: ignore[return-value]

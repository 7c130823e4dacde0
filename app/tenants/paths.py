"""Tenant directories: resolved (symlinks included) and kept inside TENANT_DATA_ROOT."""
from __future__ import annotations

from pathlib import Path

from ..errors import ApiError


def data_root(root: str) -> Path:
    return Path(root).resolve()


MAX_PATH_DEPTH = 64
# Directories of purged tenants, until deleted (app/tenants/purge.py): never a tenant's.
QUARANTINE_PREFIX = ".purged-"


def resolve_inside(root: Path, value: str | None, default: Path, field: str) -> Path:
    """The absolute, symlink-free path for ``value``; 400 if it leaves ``root``.

    Relative paths are taken relative to the root. The root itself is refused too:
    a tenant that owned it would see every other tenant's files.
    """
    candidate = default if value is None else Path(value)
    if "\x00" in str(candidate):
        raise ApiError(400, "path_outside_data_root", field=field)
    try:
        str(candidate).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_path", field=field) from None
    if len(candidate.parts) > MAX_PATH_DEPTH:
        raise ApiError(400, "invalid_path", field=field, max_depth=MAX_PATH_DEPTH)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise ApiError(400, "path_outside_data_root", field=field)
    if resolved.relative_to(root).parts[0].startswith(QUARANTINE_PREFIX):
        raise ApiError(400, "invalid_path", field=field)
    return resolved

"""Tenant folders applied to a store, on both backends (SQLite and PostgreSQL)."""
from tests.support.tenant_folders import app, folder, store  # noqa: F401 (fixtures)

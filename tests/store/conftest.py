"""The store under test, on both backends: every store test runs on SQLite and PostgreSQL.

``db`` is a migrated SQLiteDatabase (a file under tmp_path) or PostgresDatabase, so
the two backends cannot drift apart unnoticed. Without the PostgreSQL binaries the
postgres half is skipped (and fails under CI=true), see tests/support/postgres_fixtures.py.

A PostgreSQL test gets a fresh, empty *schema* (``search_path`` set in the URL) in
one database shared by the session: CREATE DATABASE costs about a second, CREATE
SCHEMA a few milliseconds, and the store sees the same thing, an empty namespace.
Tests that need a whole database of their own (the migration runner's concurrency,
advisory locks) use ``postgres_url``.
"""
from __future__ import annotations

import uuid

import psycopg
import pytest

from app.store import Store, TenantRecord
from app.store.database import SQLiteDatabase
from app.store.migrations import migrate

BACKENDS = ["sqlite", "postgres"]


def open_database(backend: str, request, tmp_path):
    """An opened, unmigrated database of ``backend``."""
    if backend == "sqlite":
        database = SQLiteDatabase(tmp_path / "store" / "tenants.sqlite3")
    else:
        from app.store.postgres import PostgresDatabase

        database = PostgresDatabase(request.getfixturevalue("postgres_schema_url"))
    database.open()
    return database


@pytest.fixture(scope="session")
def postgres_store_database(postgres_server) -> str:
    """One database for the store tests' schemas."""
    return postgres_server.create_database()


@pytest.fixture
def postgres_schema_url(postgres_store_database) -> str:
    """The URL of a fresh, empty schema: every connection made with it uses only that schema."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_store_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return f"{postgres_store_database}?options=-csearch_path%3D{name}"


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db(backend, request, tmp_path):
    database = open_database(backend, request, tmp_path)
    try:
        migrate(database)
        yield database
    finally:
        database.close()


@pytest.fixture
def store(db) -> Store:
    return Store(db)


def tables_with_column(db, column: str) -> list[str]:
    """Every table of the store that has ``column``, whatever the backend."""
    with db.read() as conn:
        if db.dialect == "postgres":
            rows = conn.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND column_name = ? "
                "ORDER BY table_name", (column,)).fetchall()
            return [r[0] for r in rows]
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [t for t in tables
                if column in [c[1] for c in conn.execute(f"PRAGMA table_info({t})")]]


ADD_TENANT_CAP = 10


@pytest.fixture
def add_tenant(store, tmp_path):
    """Create a tenant with default directories under tmp_path; ``fields`` override them."""
    def add(tenant_id: str, **fields) -> None:
        root = tmp_path / "tenants" / tenant_id
        values = {"data_dir": str(root / "data"), "uploads_dir": str(root / "uploads"),
                  "enabled": True}
        values.update(fields)
        store.tenants.upsert(TenantRecord(tenant_id=tenant_id, **values), ADD_TENANT_CAP)
    return add

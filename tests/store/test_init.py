"""open_store: the backend TENANT_DB_URL selects, opened with the settings it relies on."""
from __future__ import annotations

from app.settings import Settings
from app.store import open_store
from app.store.database import SQLiteDatabase


def test_open_store_picks_sqlite_without_a_url(tmp_path):
    store = open_store(Settings(db_path=str(tmp_path / "s" / "tenants.sqlite3")))
    try:
        assert isinstance(store.db, SQLiteDatabase) and store.db.dialect == "sqlite"
        store.ping()
    finally:
        store.close()


def test_sqlite_connections_use_wal_full_sync_and_foreign_keys(tmp_path):
    # SQLite only: the PRAGMAs the single-host store relies on.
    store = open_store(Settings(db_path=str(tmp_path / "s" / "tenants.sqlite3")))
    try:
        with store.db.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    finally:
        store.close()


def test_open_store_picks_postgres_with_a_url(postgres_url):
    from app.store.postgres import PostgresDatabase

    store = open_store(Settings(db_url=postgres_url))
    try:
        assert isinstance(store.db, PostgresDatabase) and store.db.dialect == "postgres"
        store.ping()
        assert store.tenants.count() == 0
    finally:
        store.close()

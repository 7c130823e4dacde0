"""The migration runner on PostgreSQL: each file applied once, also by several processes at
once, and the same numbered migrations bring both backends to the same schema (sec. 10)."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from app.store.database import SQLiteDatabase
from app.store.migrations import MIGRATIONS_DIR, discover, migrate

from .test_migrations import COUNTING, SHIPPED, write_migrations


def pg_database(url: str):
    from app.store.postgres import PostgresDatabase

    database = PostgresDatabase(url)
    database.open()
    return database


@pytest.fixture
def db(postgres_url):
    database = pg_database(postgres_url)
    yield database
    database.close()


def schema_version(db) -> list[int]:
    with db.read() as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version")]


def columns(db) -> dict[str, list[tuple[str, bool]]]:
    """{table: [(column, not null), ...]} in column order, of either backend."""
    found: dict[str, list[tuple[str, bool]]] = {}
    with db.read() as conn:
        if db.dialect == "postgres":
            rows = conn.execute(
                "SELECT table_name, column_name, is_nullable = 'NO' "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "ORDER BY table_name, ordinal_position")
            for table, column, not_null in rows:
                found.setdefault(table, []).append((column, not_null))
            return found
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                             "'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            for c in conn.execute(f"PRAGMA table_info({table})"):
                # SQLite lets a PRIMARY KEY TEXT column hold NULL; PostgreSQL never does.
                found.setdefault(table, []).append((c["name"], bool(c["notnull"] or c["pk"])))
        return found


def foreign_keys(db) -> set[tuple[str, str, str, str]]:
    """{(table, column, referenced table, on delete)} of either backend."""
    with db.read() as conn:
        if db.dialect == "postgres":
            rows = conn.execute(
                "SELECT k.table_name, k.column_name, u.table_name, r.delete_rule "
                "FROM information_schema.referential_constraints r "
                "JOIN information_schema.key_column_usage k "
                "  ON k.constraint_name = r.constraint_name "
                "  AND k.constraint_schema = r.constraint_schema "
                "JOIN information_schema.constraint_column_usage u "
                "  ON u.constraint_name = r.constraint_name "
                "  AND u.constraint_schema = r.constraint_schema "
                "WHERE r.constraint_schema = current_schema()").fetchall()
            return {tuple(r) for r in rows}
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                             "'table' AND name NOT LIKE 'sqlite_%'")]
        return {(table, fk["from"], fk["table"], fk["on_delete"])
                for table in tables
                for fk in conn.execute(f"PRAGMA foreign_key_list({table})")}


def named_indexes(db) -> set[str]:
    with db.read() as conn:
        if db.dialect == "postgres":
            rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = "
                                "current_schema() AND indexname NOT LIKE '%_pkey'")
        else:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                "AND sql IS NOT NULL")
        return {r[0] for r in rows}


def test_postgres_has_the_same_numbered_migrations():
    chosen = discover(dialect="postgres")
    assert [m.version for m in chosen] == list(range(1, len(SHIPPED) + 1))
    for migration, generic in zip(chosen, SHIPPED):
        # Either the shared file or its PostgreSQL variant, never another number's file.
        assert migration.path.name in (generic.name,
                                       generic.name.replace(".sql", ".postgres.sql"))


def test_fresh_database_gets_every_migration_once(db):
    assert migrate(db) == len(SHIPPED)
    assert schema_version(db) == [len(SHIPPED)]
    with db.read() as conn:
        meta = dict(conn.execute("SELECT key, value FROM store_meta").fetchall())
    assert meta == {"config_version": 0, "label_rejections": 0}


def test_second_migrate_is_a_no_op(db):
    migrate(db)
    before = (columns(db), foreign_keys(db), named_indexes(db))
    assert migrate(db) == len(SHIPPED)
    assert migrate(db) == len(SHIPPED)
    assert (columns(db), foreign_keys(db), named_indexes(db)) == before
    assert schema_version(db) == [len(SHIPPED)]


def test_both_backends_reach_the_same_schema(db, tmp_path):
    migrate(db)
    lite = SQLiteDatabase(tmp_path / "store" / "tenants.sqlite3")
    lite.open()
    try:
        migrate(lite)
        pg_columns = columns(db)
        assert pg_columns.pop("schema_version") == [("version", True)]  # PRAGMA user_version
        assert pg_columns == columns(lite)
        assert foreign_keys(db) == foreign_keys(lite)
        assert {t for t, _, _, rule in foreign_keys(db) if rule == "CASCADE"} == \
            {"tenant_hosts", "tenant_readiness_durations", "limit_rejections", "uploads"}
        assert named_indexes(db) == named_indexes(lite)
    finally:
        lite.close()


def test_each_file_is_applied_once_and_new_files_later(db, tmp_path):
    directory = write_migrations(tmp_path / "m", {"0001_start.sql": COUNTING["0001_start.sql"]})
    assert migrate(db, directory) == 1
    assert migrate(db, directory) == 1
    write_migrations(directory, COUNTING)
    assert migrate(db, directory) == 2
    assert migrate(db, directory) == 2
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM applied ORDER BY name")] == \
            ["0001", "0002"]
        assert conn.execute("SELECT body FROM notes").fetchall() == []
    assert schema_version(db) == [2]


def test_a_postgres_variant_replaces_the_shared_file_on_postgres_only(db, tmp_path):
    directory = write_migrations(tmp_path / "m", {
        "0001_start.sql": "CREATE TABLE applied (name TEXT);\n"
                          "INSERT INTO applied VALUES ('shared');\n",
        "0001_start.postgres.sql": "CREATE TABLE applied (name TEXT);\n"
                                   "INSERT INTO applied VALUES ('postgres');\n"})
    assert migrate(db, directory) == 1
    lite = SQLiteDatabase(tmp_path / "store" / "tenants.sqlite3")
    lite.open()
    try:
        assert migrate(lite, directory) == 1
        for database, expected in ((db, "postgres"), (lite, "shared")):
            with database.read() as conn:
                assert [tuple(r) for r in conn.execute("SELECT name FROM applied")] == \
                    [(expected,)]
    finally:
        lite.close()


def test_store_newer_than_the_code_is_refused(db):
    migrate(db)
    with db.write() as conn:
        conn.execute("UPDATE schema_version SET version = ?", (len(SHIPPED) + 1,))
    before = columns(db)
    with pytest.raises(RuntimeError, match="newer than this code"):
        migrate(db)
    assert schema_version(db) == [len(SHIPPED) + 1]
    assert columns(db) == before


def test_failing_migration_leaves_the_store_as_it_was(db, tmp_path):
    directory = write_migrations(tmp_path / "m", {
        "0001_start.sql": COUNTING["0001_start.sql"],
        "0002_broken.sql": "INSERT INTO applied VALUES ('0002');\n"
                           "INSERT INTO nowhere VALUES (1);\n",
    })
    with pytest.raises(psycopg.Error, match="nowhere"):
        migrate(db, directory)
    # PostgreSQL's DDL is transactional: the whole run is rolled back, nothing half-done.
    assert columns(db) == {}
    write_migrations(directory, {"0002_broken.sql": COUNTING["0002_more.sql"]})
    assert migrate(db, directory) == 2
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM applied ORDER BY name")] == \
            ["0001", "0002"]


def fresh_schemas(url: str, count: int) -> list[str]:
    """``url`` itself (a brand-new database) and ``count - 1`` brand-new schemas in it."""
    urls = [url]
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(count - 1):
            name = f"s_{uuid.uuid4().hex[:12]}"
            conn.execute(f'CREATE SCHEMA "{name}"')
            urls.append(f"{url}?options=-csearch_path%3D{name}")
    return urls


def migrate_together(urls: list[str], directory: Path | None, callers: int) -> list:
    """``callers`` threads, each with a PostgresDatabase of its own (its own pool and
    sessions, as separate processes or hosts have), migrate each store at the same time."""
    barrier = threading.Barrier(callers)

    def run(_) -> list:
        answers = []
        for url in urls:
            barrier.wait(timeout=60)
            try:
                database = pg_database(url)
                try:
                    version = migrate(database) if directory is None else \
                        migrate(database, directory)
                finally:
                    database.close()
                answers.append((url, version))
            except Exception as exc:  # reported to the test, which names it
                answers.append((url, f"{type(exc).__name__}: {exc}"))
        return answers

    with ThreadPoolExecutor(callers) as pool:
        return [a for answers in pool.map(run, range(callers), timeout=120) for a in answers]


@pytest.mark.parametrize("counting", [False, True], ids=["shipped", "counting"])
def test_four_migrators_on_one_fresh_database_all_succeed(postgres_url, tmp_path, counting):
    callers, rounds = 4, 4
    directory = write_migrations(tmp_path / "m", COUNTING) if counting else None
    expected = 2 if counting else len(discover(MIGRATIONS_DIR, "postgres"))
    urls = fresh_schemas(postgres_url, rounds)
    answers = migrate_together(urls, directory, callers)
    assert sorted(answers) == sorted((u, expected) for u in urls for _ in range(callers))
    for url in urls:
        database = pg_database(url)
        try:
            assert schema_version(database) == [expected]
            if counting:
                with database.read() as conn:
                    assert [r[0] for r in conn.execute(
                        "SELECT name FROM applied ORDER BY name")] == ["0001", "0002"]
            else:
                assert set(columns(database)) == {
                    "schema_version", "store_meta", "tenants", "tenant_hosts",
                    "tenant_readiness_durations", "limit_rejections", "uploads"}
        finally:
            database.close()


def test_tenants_sort_by_bytes_whatever_the_locale_of_the_database(postgres_server, tmp_path):
    """SQLite sorts tenant ids by bytes; a database whose collation ignores punctuation
    (glibc en_US.UTF-8; here ICU with alternate=shifted) must not sort them otherwise."""
    from app.store import TenantRecord, TenantStore

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE \'C\' '
                     "LOCALE_PROVIDER icu ICU_LOCALE 'und-u-ka-shifted'")
    database = pg_database(postgres_server.admin_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        migrate(database)
        with database.read() as conn:  # the database itself does ignore the hyphen
            assert [r[0] for r in conn.execute(
                "SELECT x FROM unnest(ARRAY['ab', 'a-z']) x ORDER BY x")] == ["ab", "a-z"]
        tenants, ids = TenantStore(database), ["ab", "a-z", "a0", "a-b", "b", "a"]
        for tenant in ids:
            root = tmp_path / tenant
            tenants.upsert(TenantRecord(tenant, str(root / "d"), str(root / "u"), True), 10)
        assert [r.tenant_id for r in tenants.list()] == sorted(ids)
    finally:
        database.close()

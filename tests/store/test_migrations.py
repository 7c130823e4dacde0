"""Numbered migrations on both backends: each applied exactly once, even by several processes
(or hosts) at the same time, and the same numbered files bring SQLite and PostgreSQL to the
same schema (contract sec. 10).

``db`` is an opened, unmigrated database of each backend (tests/store/conftest.py); a
case that only one dialect can show is parametrized with that backend alone.
"""
from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from app.store.database import SQLiteDatabase
from app.store.errors import StoreUnavailable
from app.store.migrations import MIGRATIONS_DIR, discover, migrate, split_statements
from tests.store.conftest import open_database

# The SQLite set: NNNN_name.sql; NNNN_name.postgres.sql files are PostgreSQL's variants.
SHIPPED = sorted(p for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")
                 if not p.name.endswith(".postgres.sql"))

# A counting migration set: every application of a file leaves a row behind.
COUNTING = {
    "0001_start.sql": "-- the log of applications\nCREATE TABLE applied (name TEXT);\n"
                      "INSERT INTO applied VALUES ('0001');\n",
    "0002_more.sql": "INSERT INTO applied VALUES ('0002');\n"
                     "CREATE TABLE notes (body TEXT NOT NULL DEFAULT 'a;b');\n",
}

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])
POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgres"])


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.fixture
def db(backend, request, tmp_path):
    """Opened but not migrated: the migrations are what these tests run."""
    database = open_database(backend, request, tmp_path)
    yield database
    database.close()


# -- what either backend says about itself --------------------------------------------------------
def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def stored_versions(db) -> list[int]:
    """The schema version the store records: SQLite's ``PRAGMA user_version``, or every row
    of PostgreSQL's ``schema_version`` table (there must be exactly one)."""
    if db.dialect == "sqlite":
        return [user_version(db.path)]
    with db.read() as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version")]


def set_version(db, version: int) -> None:
    with db.write() as conn:
        if db.dialect == "sqlite":
            conn.execute(f"PRAGMA user_version = {version:d}")
        else:
            conn.execute("UPDATE schema_version SET version = ?", (version,))


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


def schema(db):
    """Everything migrations define: SQLite's sqlite_master as it is (SQL text included);
    on PostgreSQL, the columns, foreign keys and indexes of the schema."""
    if db.dialect == "postgres":
        return columns(db), foreign_keys(db), named_indexes(db)
    with db.read() as conn:
        return [tuple(r) for r in conn.execute("SELECT type, name, sql FROM sqlite_master "
                                               "ORDER BY name")]


def applied(db) -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.execute("SELECT name FROM applied ORDER BY name")]


# -- the shipped files ---------------------------------------------------------------------------
def test_shipped_migrations_are_numbered_without_gaps():
    assert [m.path for m in discover()] == SHIPPED
    assert [m.version for m in discover()] == list(range(1, len(SHIPPED) + 1))


def test_postgres_has_the_same_numbered_migrations():
    chosen = discover(dialect="postgres")
    assert [m.version for m in chosen] == list(range(1, len(SHIPPED) + 1))
    for migration, generic in zip(chosen, SHIPPED):
        # Either the shared file or its PostgreSQL variant, never another number's file.
        assert migration.path.name in (generic.name,
                                       generic.name.replace(".sql", ".postgres.sql"))


# -- the runner, on both backends ----------------------------------------------------------------
def test_fresh_store_gets_every_migration(db):
    assert migrate(db) == len(SHIPPED)
    assert stored_versions(db) == [len(SHIPPED)]
    with db.read() as conn:
        meta = dict(conn.execute("SELECT key, value FROM store_meta").fetchall())
    assert meta == {"config_version": 0, "label_rejections": 0}


def test_second_migrate_is_a_no_op(db):
    migrate(db)
    before = schema(db)
    assert migrate(db) == len(SHIPPED)
    assert migrate(db) == len(SHIPPED)
    assert schema(db) == before
    assert stored_versions(db) == [len(SHIPPED)]


def test_each_file_is_applied_once_and_new_files_later(db, tmp_path):
    directory = write_migrations(tmp_path / "m", {"0001_start.sql": COUNTING["0001_start.sql"]})
    assert migrate(db, directory) == 1
    assert migrate(db, directory) == 1
    write_migrations(directory, COUNTING)
    assert migrate(db, directory) == 2
    assert migrate(db, directory) == 2
    assert applied(db) == ["0001", "0002"]
    with db.read() as conn:
        assert conn.execute("SELECT body FROM notes").fetchall() == []
    assert stored_versions(db) == [2]


def test_store_newer_than_the_code_is_refused(db):
    migrate(db)
    set_version(db, len(SHIPPED) + 1)
    before = schema(db)
    with pytest.raises(RuntimeError, match="newer than this code"):
        migrate(db)
    assert stored_versions(db) == [len(SHIPPED) + 1]
    assert schema(db) == before


@SQLITE_ONLY
def test_gap_in_numbering_is_refused(db, tmp_path):
    directory = write_migrations(tmp_path / "m", {"0001_a.sql": "SELECT 1;\n",
                                                  "0003_c.sql": "SELECT 1;\n"})
    with pytest.raises(RuntimeError, match="without gaps"):
        migrate(db, directory)
    assert user_version(db.path) == 0


BROKEN = {"0001_start.sql": COUNTING["0001_start.sql"],
          "0002_broken.sql": "INSERT INTO applied VALUES ('0002');\n"
                             "INSERT INTO nowhere VALUES (1);\n"}


@SQLITE_ONLY
def test_a_failing_migration_on_sqlite_keeps_only_the_files_before_it(db, tmp_path):
    directory = write_migrations(tmp_path / "m", BROKEN)
    with pytest.raises(Exception, match="nowhere"):
        migrate(db, directory)
    # Nothing of 0002 is kept, and the version says exactly what was applied.
    version = user_version(db.path)
    with db.read() as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM applied")] if version else []
    assert (version, names) in ((0, []), (1, ["0001"]))
    assert version == 1 or schema(db) == []


@POSTGRES_ONLY
def test_a_failing_migration_on_postgres_rolls_the_whole_run_back(db, tmp_path):
    directory = write_migrations(tmp_path / "m", BROKEN)
    with pytest.raises(psycopg.Error, match="nowhere"):
        migrate(db, directory)
    # PostgreSQL's DDL is transactional: the whole run is rolled back, nothing half-done.
    assert columns(db) == {}
    write_migrations(directory, {"0002_broken.sql": COUNTING["0002_more.sql"]})
    assert migrate(db, directory) == 2
    assert applied(db) == ["0001", "0002"]


# -- the two dialects side by side ---------------------------------------------------------------
@POSTGRES_ONLY
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
            {"tenant_hosts", "tenant_readiness_durations", "limit_rejections", "uploads",
             "jobs", "job_queues",
             "budget_spend", "budget_reservations", "budget_rejections", "model_requests"}
        assert named_indexes(db) == named_indexes(lite)
    finally:
        lite.close()


@POSTGRES_ONLY
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


@POSTGRES_ONLY
def test_tenants_sort_by_bytes_whatever_the_locale_of_the_database(backend, postgres_server,
                                                                   tmp_path):
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


# -- several migrators at once: processes on one SQLite file, sessions on one PostgreSQL ---------
def sqlite_migrate_together(barrier, paths: list[str], directory: str | None, results) -> None:
    """Runs in a spawned process: for each store, wait for the others, then migrate it."""
    for path in paths:
        barrier.wait(timeout=60)
        database = SQLiteDatabase(path)
        try:
            database.open()
            version = migrate(database) if directory is None else migrate(database, Path(directory))
            results.put((path, version))
        except Exception as exc:  # reported to the test, which names it
            results.put((path, f"{type(exc).__name__}: {exc}"))
        finally:
            database.close()


def new_sqlite_store(path: Path) -> str:
    """An empty store file (schema version 0), created the way the server creates it."""
    database = SQLiteDatabase(path)
    database.open()
    database.close()
    return str(path)


@SQLITE_ONLY
@pytest.mark.parametrize("counting", [False, True], ids=["shipped", "counting"])
def test_four_processes_migrating_one_fresh_store_all_succeed(backend, tmp_path, counting):
    processes, rounds = 4, 8
    directory = write_migrations(tmp_path / "m", COUNTING) if counting else None
    expected = 2 if counting else len(SHIPPED)
    paths = [new_sqlite_store(tmp_path / f"round{i}" / "tenants.sqlite3") for i in range(rounds)]
    assert all(user_version(Path(p)) == 0 for p in paths)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=sqlite_migrate_together,
                               args=(barrier, paths, directory and str(directory), results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=120) for _ in range(processes * rounds)]
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0] * processes
    assert sorted(answers) == sorted((p, expected) for p in paths for _ in range(processes))
    for path in paths:
        assert user_version(Path(path)) == expected
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            if counting:
                assert conn.execute("SELECT name FROM applied ORDER BY name").fetchall() == \
                    [("0001",), ("0002",)]
        finally:
            conn.close()


def pg_database(url: str):
    from app.store.postgres import PostgresDatabase

    database = PostgresDatabase(url)
    database.open()
    return database


def fresh_schemas(url: str, count: int) -> list[str]:
    """``url`` itself (a brand-new database) and ``count - 1`` brand-new schemas in it."""
    urls = [url]
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(count - 1):
            name = f"s_{uuid.uuid4().hex[:12]}"
            conn.execute(f'CREATE SCHEMA "{name}"')
            urls.append(f"{url}?options=-csearch_path%3D{name}")
    return urls


def postgres_migrate_together(urls: list[str], directory: Path | None, callers: int) -> list:
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


@POSTGRES_ONLY
@pytest.mark.parametrize("counting", [False, True], ids=["shipped", "counting"])
def test_four_migrators_on_one_fresh_database_all_succeed(backend, postgres_url, tmp_path,
                                                          counting):
    callers, rounds = 4, 4
    directory = write_migrations(tmp_path / "m", COUNTING) if counting else None
    expected = 2 if counting else len(discover(MIGRATIONS_DIR, "postgres"))
    urls = fresh_schemas(postgres_url, rounds)
    answers = postgres_migrate_together(urls, directory, callers)
    assert sorted(answers) == sorted((u, expected) for u in urls for _ in range(callers))
    for url in urls:
        database = pg_database(url)
        try:
            assert stored_versions(database) == [expected]
            if counting:
                assert applied(database) == ["0001", "0002"]
            else:
                assert set(columns(database)) == {
                    "schema_version", "store_meta", "tenants", "tenant_hosts",
                    "tenant_readiness_durations", "limit_rejections", "uploads",
                    "jobs", "job_queues", "budget_spend", "budget_reservations",
                    "budget_rejections", "model_requests", "audit_log"}
        finally:
            database.close()


@SQLITE_ONLY
def test_opening_a_brand_new_store_waits_for_a_writer_instead_of_failing(backend, tmp_path):
    path = tmp_path / "new" / "tenants.sqlite3"
    path.parent.mkdir()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")   # another process, mid-way through creating the file
    database = SQLiteDatabase(path, busy_timeout_ms=300)
    started = time.monotonic()
    try:
        database.open()
    except StoreUnavailable:
        # Refusing is fine only once the busy timeout has been waited out.
        assert time.monotonic() - started >= 0.3
    finally:
        database.close()
        writer.execute("ROLLBACK")
        writer.close()


# -- migration files split into statements (dialect-free) ---------------------------------------
def test_split_statements_handles_a_multi_statement_file():
    script = """-- leading comment; with a semicolon
CREATE TABLE a (x TEXT DEFAULT 'one;two');

/* block comment; */
CREATE TRIGGER a_guard BEFORE INSERT ON a
BEGIN
    SELECT RAISE(ABORT, 'no; never') WHERE NEW.x = 'bad';
END;
INSERT INTO a (x)
VALUES ('three');
-- trailing comment
"""
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[0].endswith("CREATE TABLE a (x TEXT DEFAULT 'one;two');")
    assert statements[1].startswith("/* block comment; */\nCREATE TRIGGER a_guard")
    assert statements[1].endswith("END;")
    assert statements[2] == "INSERT INTO a (x)\nVALUES ('three');"
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)
    assert conn.execute("SELECT x FROM a").fetchall() == [("three",)]
    with pytest.raises(sqlite3.IntegrityError, match="no; never"):
        conn.execute("INSERT INTO a VALUES ('bad')")
    conn.close()


@pytest.mark.parametrize("script", ["", "\n\n", "-- only a comment\n"])
def test_split_statements_of_nothing_is_empty(script):
    assert split_statements(script) == []


def test_split_statements_refuses_an_unterminated_statement():
    with pytest.raises(ValueError, match="incomplete SQL statement"):
        split_statements("CREATE TABLE a (x);\nCREATE TABLE b (y)\n")


def test_split_statements_refuses_an_unterminated_statement_after_a_comment():
    with pytest.raises(ValueError, match="incomplete SQL statement"):
        split_statements("CREATE TABLE a (x);\n-- then b\nCREATE TABLE b (y)\n")


def test_split_statements_splits_statements_sharing_a_line():
    assert split_statements("CREATE TABLE a (x); CREATE TABLE b (y);\n") == \
        ["CREATE TABLE a (x);", "CREATE TABLE b (y);"]

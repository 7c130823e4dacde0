"""Numbered migrations: each applied exactly once, even by several processes at the same time."""
from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from app.store.database import SQLiteDatabase
from app.store.errors import StoreUnavailable
from app.store.migrations import MIGRATIONS_DIR, discover, migrate, split_statements

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


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.fixture
def db(tmp_path):
    database = SQLiteDatabase(tmp_path / "store" / "tenants.sqlite3")
    database.open()
    yield database
    database.close()


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def schema(db) -> list:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute("SELECT type, name, sql FROM sqlite_master "
                                               "ORDER BY name")]


def test_shipped_migrations_are_numbered_without_gaps():
    assert [m.path for m in discover()] == SHIPPED
    assert [m.version for m in discover()] == list(range(1, len(SHIPPED) + 1))


def test_fresh_store_gets_every_migration(db):
    assert migrate(db) == len(SHIPPED)
    assert user_version(db.path) == len(SHIPPED)
    with db.read() as conn:
        meta = dict(conn.execute("SELECT key, value FROM store_meta").fetchall())
    assert meta == {"config_version": 0, "label_rejections": 0}


def test_second_migrate_is_a_no_op(db):
    migrate(db)
    before = schema(db)
    assert migrate(db) == len(SHIPPED)
    assert schema(db) == before
    assert user_version(db.path) == len(SHIPPED)


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
    assert user_version(db.path) == 2


def test_store_newer_than_the_code_is_refused(db):
    migrate(db)
    with db.write() as conn:
        conn.execute(f"PRAGMA user_version = {len(SHIPPED) + 1}")
    before = schema(db)
    with pytest.raises(RuntimeError, match="newer than this code"):
        migrate(db)
    assert user_version(db.path) == len(SHIPPED) + 1
    assert schema(db) == before


def test_failing_migration_leaves_the_store_as_it_was(db, tmp_path):
    directory = write_migrations(tmp_path / "m", {
        "0001_start.sql": COUNTING["0001_start.sql"],
        "0002_broken.sql": "INSERT INTO applied VALUES ('0002');\n"
                           "INSERT INTO nowhere VALUES (1);\n",
    })
    with pytest.raises(Exception, match="nowhere"):
        migrate(db, directory)
    # Nothing of 0002 is kept, and the version says exactly what was applied.
    version = user_version(db.path)
    with db.read() as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM applied")] if version else []
    assert (version, applied) in ((0, []), (1, ["0001"]))
    assert version == 1 or schema(db) == []


def test_gap_in_numbering_is_refused(db, tmp_path):
    directory = write_migrations(tmp_path / "m", {"0001_a.sql": "SELECT 1;\n",
                                                  "0003_c.sql": "SELECT 1;\n"})
    with pytest.raises(RuntimeError, match="without gaps"):
        migrate(db, directory)
    assert user_version(db.path) == 0


def migrate_together(barrier, paths: list[str], directory: str | None, results) -> None:
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


def new_store(path: Path) -> str:
    """An empty store file (schema version 0), created the way the server creates it."""
    database = SQLiteDatabase(path)
    database.open()
    database.close()
    return str(path)


@pytest.mark.parametrize("counting", [False, True], ids=["shipped", "counting"])
def test_four_processes_migrating_one_fresh_store_all_succeed(tmp_path, counting):
    processes, rounds = 4, 8
    directory = write_migrations(tmp_path / "m", COUNTING) if counting else None
    expected = 2 if counting else len(SHIPPED)
    paths = [new_store(tmp_path / f"round{i}" / "tenants.sqlite3") for i in range(rounds)]
    assert all(user_version(Path(p)) == 0 for p in paths)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=migrate_together,
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


def test_opening_a_brand_new_store_waits_for_a_writer_instead_of_failing(tmp_path):
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

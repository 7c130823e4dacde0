"""The two database classes behind the store keep one interface: read(), write(), rows
readable by name and index, a failed write leaves nothing, an unreachable store is
StoreUnavailable."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg
import pytest

from app.store.database import SQLiteDatabase
from app.store.errors import StoreUnavailable
from tests.support.server import free_port


def test_rows_read_by_name_and_by_index(db):
    with db.read() as conn:
        row = conn.execute("SELECT key, value FROM store_meta WHERE key = ?",
                           ("config_version",)).fetchone()
    assert (row["key"], row["value"]) == ("config_version", 0)
    assert (row[0], row[1]) == ("config_version", 0)
    assert tuple(row) == ("config_version", 0)


def test_a_write_that_raises_leaves_nothing(db):
    with pytest.raises(RuntimeError, match="half-way"):
        with db.write() as conn:
            conn.execute("UPDATE store_meta SET value = 41 WHERE key = 'config_version'")
            raise RuntimeError("half-way")
    with db.read() as conn:
        assert conn.execute("SELECT value FROM store_meta WHERE key = 'config_version'"
                            ).fetchone()[0] == 0


def config_version(db) -> int:
    with db.read() as conn:
        return conn.execute("SELECT value FROM store_meta WHERE key = 'config_version'"
                            ).fetchone()[0]


def test_a_failed_statement_joined_without_a_savepoint_fails_alone(db):
    with db.write() as conn:
        conn.execute("UPDATE store_meta SET value = 41 WHERE key = 'config_version'")
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            with db.write(savepoint=False) as joined:
                joined.execute("INSERT INTO store_meta (key, value) "
                               "VALUES ('config_version', 1)")
        conn.execute("UPDATE store_meta SET value = value + 1 WHERE key = 'config_version'")
    assert config_version(db) == 42


def test_a_write_joined_without_a_savepoint_issues_no_savepoint(tmp_path):
    db = SQLiteDatabase(tmp_path / "store.sqlite3")
    db.open()
    try:
        statements: list[str] = []
        conn = db.connection()
        conn.execute("CREATE TABLE t (v INTEGER)")
        conn.set_trace_callback(statements.append)
        with db.write() as outer:
            with db.write(savepoint=False) as joined:
                assert joined is outer
                joined.execute("INSERT INTO t VALUES (1)")
            with db.write() as nested:
                nested.execute("INSERT INTO t VALUES (2)")
        conn.set_trace_callback(None)
        assert [s.split()[0] for s in statements] == \
            ["BEGIN", "INSERT", "SAVEPOINT", "INSERT", "RELEASE", "COMMIT"]
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    finally:
        db.close()


def test_a_committed_write_is_seen_by_another_thread(db):
    with db.write() as conn:
        conn.execute("UPDATE store_meta SET value = 7 WHERE key = 'config_version'")
    seen = []

    def read():
        with db.read() as conn:
            seen.append(conn.execute("SELECT value FROM store_meta "
                                     "WHERE key = 'config_version'").fetchone()[0])

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(30)
    assert seen == [7]


def test_writes_are_serialised_read_then_write_stays_atomic(db):
    threads, rounds = 8, 10
    barrier = threading.Barrier(threads)

    def bump():
        barrier.wait(timeout=30)
        for _ in range(rounds):
            with db.write() as conn:
                value = conn.execute("SELECT value FROM store_meta "
                                     "WHERE key = 'label_rejections'").fetchone()[0]
                conn.execute("UPDATE store_meta SET value = ? WHERE key = 'label_rejections'",
                             (value + 1,))

    workers = [threading.Thread(target=bump) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    with db.read() as conn:
        assert conn.execute("SELECT value FROM store_meta WHERE key = 'label_rejections'"
                            ).fetchone()[0] == threads * rounds


def test_an_unreachable_postgres_is_store_unavailable():
    from app.store.postgres import PostgresDatabase

    database = PostgresDatabase(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
                                timeout=1.0)
    try:
        with pytest.raises(StoreUnavailable):
            database.open()
        with pytest.raises(StoreUnavailable):
            with database.read() as conn:
                conn.execute("SELECT 1")
        with pytest.raises(StoreUnavailable):
            with database.write() as conn:
                conn.execute("SELECT 1")
    finally:
        database.close()


def test_postgres_pool_gives_up_each_reconnection_back_off_within_its_timeout():
    """psycopg_pool retries a lost connection with a doubling back-off for 300 s by default,
    one growth attempt at a time: after a long outage the store stayed unavailable for up
    to about half the outage once PostgreSQL was back. Each chain must end within the
    store's timeout, so the next request tries again at once."""
    from app.store.postgres import PostgresDatabase

    database = PostgresDatabase("postgresql://postgres@127.0.0.1:1/unused", timeout=5.0)
    try:
        assert database._pool.reconnect_timeout <= 5.0
    finally:
        database.close()


def test_pooled_connections_that_died_are_replaced_without_failing_a_request(postgres_url):
    """A PostgreSQL restart kills every pooled connection; the next reads and writes get
    new ones instead of answering store_unavailable once per dead connection."""
    from app.store.migrations import migrate
    from app.store.postgres import PostgresDatabase

    database = PostgresDatabase(postgres_url)
    database.open()
    try:
        migrate(database)
        barrier = threading.Barrier(4)

        def hold_a_connection(_):  # the pool grows to 4 connections, all idle afterwards
            with database.read() as conn:
                barrier.wait(timeout=30)
                conn.execute("SELECT 1")

        threads = [threading.Thread(target=hold_a_connection, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                "datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert killed >= 4
        for _ in range(8):
            with database.read() as conn:
                assert conn.execute("SELECT value FROM store_meta "
                                    "WHERE key = 'config_version'").fetchone()[0] == 0
            with database.write() as conn:
                conn.execute("UPDATE store_meta SET value = value WHERE key = 'config_version'")
    finally:
        database.close()


def _descriptors_on(path) -> int:
    """This process's open descriptors on the store's files (database, WAL, shared memory)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(path)):
                count += 1
        except OSError:
            pass  # closed meanwhile
    return count


def test_connections_of_threads_that_ended_are_closed(tmp_path):
    db = SQLiteDatabase(tmp_path / "store.sqlite3")
    db.open()
    try:
        def read_once():
            with db.read() as conn:
                conn.execute("SELECT 1").fetchone()

        for _ in range(3):  # threads that come and go: an upload worker at each reload
            threads = [threading.Thread(target=read_once) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        sweeper = threading.Thread(target=read_once)  # a new connection sweeps the ended ones
        sweeper.start()
        sweeper.join(30)
        # Each open connection holds a descriptor of the WAL: only the sweeper's is left
        # (this thread never read); with ended connections left unclosed, 24 were.
        assert _descriptors_on(Path(f"{db.path}-wal")) <= 2
        # SQLite keeps a closed connection's database descriptor for reuse while another
        # connection of the process holds a lock on the file: how many depends on how the
        # threads' reads overlapped (up to 22 in all seen, on a busy machine too); before
        # the sweep, about 120 were.
        assert _descriptors_on(db.path) < 40
    finally:
        db.close()

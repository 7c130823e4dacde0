"""Re-entrant units of work, on both backends: a write inside a write of the same thread
joins it, commits or rolls back with it, and callbacks follow the transaction's fate."""
from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest

from app.store.postgres import WRITE_LOCK

VALUE = "SELECT value FROM store_meta WHERE key = 'config_version'"
SET = "UPDATE store_meta SET value = ? WHERE key = 'config_version'"


def stored(db) -> int:
    with db.read() as conn:
        return conn.execute(VALUE).fetchone()[0]


def seen_by_another_thread(db) -> int:
    seen = []
    thread = threading.Thread(target=lambda: seen.append(stored(db)))
    thread.start()
    thread.join(30)
    return seen[0]


def test_a_write_inside_a_write_is_undone_when_the_outer_one_fails(db):
    with pytest.raises(RuntimeError, match="rendering"):
        with db.write():
            with db.write() as conn:
                conn.execute(SET, (5,))
            assert stored(db) == 5  # the transaction reads its own write
            assert seen_by_another_thread(db) == 0  # nobody else does yet
            raise RuntimeError("rendering failed")
    assert stored(db) == 0


def test_a_failed_inner_write_undoes_only_its_own_work(db):
    with db.write() as outer:
        outer.execute(SET, (1,))
        with pytest.raises(LookupError):
            with db.write() as inner:
                inner.execute(SET, (2,))
                raise LookupError("refused")
        assert stored(db) == 1
    assert stored(db) == seen_by_another_thread(db) == 1


def test_the_outer_write_commits_the_inner_ones(db):
    with db.write():
        with db.write() as conn:
            conn.execute(SET, (3,))
        with db.write() as conn:
            conn.execute(SET, (4,))
    assert seen_by_another_thread(db) == 4


def test_commit_callbacks_run_after_the_outermost_commit_only(db):
    events = []
    with db.write() as conn:
        with db.write():
            db.on_commit(lambda: events.append(("commit", seen_by_another_thread(db))))
            db.on_rollback(lambda: events.append("rollback"))
        conn.execute(SET, (9,))
        assert events == []
    assert events == [("commit", 9)]


def test_rollback_callbacks_run_when_the_work_is_undone(db):
    events = []
    with pytest.raises(RuntimeError):
        with db.write():
            db.on_commit(lambda: events.append("commit"))
            db.on_rollback(lambda: events.append("outer undone"))
            with pytest.raises(LookupError):
                with db.write():
                    db.on_rollback(lambda: events.append("inner undone"))
                    raise LookupError
            assert events == ["inner undone"]
            raise RuntimeError
    assert events == ["inner undone", "outer undone"]


def test_callbacks_need_an_open_transaction(db):
    with pytest.raises(RuntimeError, match="no transaction"):
        db.on_commit(lambda: None)


def test_other_threads_have_transactions_of_their_own(db):
    barrier = threading.Barrier(2)
    failures = []

    def writer(value: int) -> None:
        try:
            barrier.wait(30)
            with db.write() as conn:
                conn.execute(SET, (value,))
                assert stored(db) == value
        except Exception as exc:  # reported to the test thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(v,)) for v in (11, 12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert stored(db) in (11, 12)


def test_rollback_callbacks_run_while_the_write_lock_is_still_held(db):
    # Another writer must not start between a failed transaction and its callbacks.
    seen = []

    def undo():
        seen.append(_lock_is_free(db))

    with pytest.raises(RuntimeError):
        with db.write():
            db.on_rollback(undo)
            raise RuntimeError("the request failed")
    assert seen == [False]
    assert _lock_is_free(db)


def _lock_is_free(db) -> bool:
    """Whether another connection could take the store's write lock right now (no wait)."""
    if db.dialect == "sqlite":
        other = sqlite3.connect(db.path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # database is locked
            return False
        finally:
            other.close()
    with psycopg.connect(db.url, autocommit=True) as other:
        with other.transaction():
            return other.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                 (WRITE_LOCK,)).fetchone()[0]

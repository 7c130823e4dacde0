"""Store calls inside ``db.bounded(deadline)`` give up at the deadline, on both backends.

A write lock another session holds until the bounded call has returned: without the
bound the call would wait for a release that only comes after it, so it returning at
all (with StoreUnavailable, the lock still held) is the bound at work.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from app.store.errors import StoreUnavailable
from app.store.postgres import WRITE_LOCK

HOLD_AT_MOST = 60.0  # the holder lets go by itself after this, so a failing test ends
BOUND = 0.3
LONG_SQLITE = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
               "WHERE x < 2000000000) SELECT count(*) FROM c")
LONG_POSTGRES = "SELECT pg_sleep(60)"


class LockHolder:
    """Another session holding the store's write lock until told to let go."""

    def __init__(self, db, request):
        self._release = threading.Event()
        self._held = threading.Event()
        self._db = db
        self._url = request.getfixturevalue("postgres_schema_url") \
            if db.dialect == "postgres" else None
        self._thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        if self._url is None:
            with self._db.write():  # this thread's own connection: another SQLite session
                self._held.set()
                self._release.wait(HOLD_AT_MOST)
            return
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
            self._held.set()
            self._release.wait(HOLD_AT_MOST)

    def __enter__(self) -> "LockHolder":
        self._thread.start()
        assert self._held.wait(30)
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._thread.join(30)

    @property
    def still_held(self) -> bool:
        return not self._release.is_set() and self._thread.is_alive()


def _no_usual_timeout(db) -> None:
    # The usual busy timeout of 5 s would end a SQLite wait on its own (PostgreSQL has none).
    if db.dialect == "sqlite":
        db.busy_timeout_ms = int(HOLD_AT_MOST * 2 * 1000)


def _in_a_new_thread(call):
    # A thread of its own: a new SQLite connection, opened with the busy timeout set above.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=HOLD_AT_MOST * 2)


def _bounded_write(db):
    deadline = time.monotonic() + BOUND
    try:
        with db.bounded(deadline):
            with db.write() as conn:
                conn.execute("UPDATE store_meta SET value = value WHERE key = 'config_version'")
    except StoreUnavailable as exc:
        return "refused", time.monotonic() >= deadline, str(exc)
    return "written", None, None


def test_a_write_waiting_for_the_lock_gives_up_at_the_deadline(db, request):
    _no_usual_timeout(db)
    with LockHolder(db, request) as holder:
        outcome, at_deadline, _ = _in_a_new_thread(lambda: _bounded_write(db))
        assert holder.still_held
    assert (outcome, at_deadline) == ("refused", True)
    # Contention is not a refusal: the store still takes writes, and the wait is usual again.
    assert not getattr(db, "write_refused", False)
    assert _in_a_new_thread(lambda: _bounded_write(db))[0] == "written"


def test_a_bounded_write_that_gets_the_lock_in_time_commits(db, request):
    with LockHolder(db, request):
        pass
    assert _in_a_new_thread(lambda: _bounded_write(db))[0] == "written"


def test_a_statement_still_running_at_the_deadline_is_stopped(db):
    sql = LONG_POSTGRES if db.dialect == "postgres" else LONG_SQLITE

    def run():
        deadline = time.monotonic() + BOUND
        with pytest.raises(StoreUnavailable):
            with db.bounded(deadline):
                with db.read() as conn:
                    conn.execute(sql).fetchone()
        return time.monotonic() >= deadline

    assert _in_a_new_thread(run)
    assert not getattr(db, "write_refused", False)


def test_outside_the_bound_the_connection_has_its_usual_waits(db):
    def run():
        with db.bounded(time.monotonic() + BOUND):
            with db.read() as conn:
                conn.execute("SELECT 1").fetchone()
        with db.read() as conn:
            if db.dialect == "postgres":
                return [conn.execute(f"SHOW {name}").fetchone()[0]
                        for name in ("statement_timeout", "lock_timeout")]
            return conn.execute("PRAGMA busy_timeout").fetchone()[0]

    usual = ["0", "0"] if db.dialect == "postgres" else db.busy_timeout_ms
    # Every pooled PostgreSQL connection: each thread may be handed another one.
    assert [_in_a_new_thread(run) for _ in range(3)] == [usual] * 3


def test_a_bound_inside_another_keeps_the_earlier_deadline_and_the_outer_one_holds(db):
    sql = LONG_POSTGRES if db.dialect == "postgres" else LONG_SQLITE

    def run():
        with db.bounded(time.monotonic() + BOUND):
            with db.bounded(time.monotonic() + HOLD_AT_MOST):
                pass
            # Still bounded once the inner bound has ended.
            with pytest.raises(StoreUnavailable):
                with db.read() as conn:
                    conn.execute(sql).fetchone()
        return "stopped"

    assert _in_a_new_thread(run) == "stopped"

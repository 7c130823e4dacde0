"""The writers' gate (app/store/write_gate.py): SQLite writers of every thread and process
take turns, a killed holder gives it back, and no wait outlasts the caller's timeout."""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from app.store import StoreUnavailable
from app.store.database import SQLiteDatabase
from app.store.migrations import migrate

COUNTER = "SELECT value FROM store_meta WHERE key = 'gate_test'"
# Read, then write what was read plus one: two writers inside at once would lose one.
READ = "SELECT coalesce((SELECT value FROM store_meta WHERE key = 'gate_test'), 0)"
WRITE = ("INSERT INTO store_meta (key, value) VALUES ('gate_test', ?) "
         "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
THREADS, STEPS = 4, 40


def opened(path: Path, busy_timeout_ms: int = 5000) -> SQLiteDatabase:
    database = SQLiteDatabase(path, busy_timeout_ms=busy_timeout_ms)
    database.open()
    return database


@pytest.fixture
def path(tmp_path) -> Path:
    path = tmp_path / "store" / "tenants.sqlite3"
    database = opened(path)
    migrate(database)
    database.close()
    return path


def count_up(path: Path, steps: int) -> None:
    database = opened(path)

    def work():
        for _ in range(steps):
            with database.write() as conn:
                seen = conn.execute(READ).fetchone()[0]
                conn.execute(WRITE, (seen + 1,))

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    database.close()


def hold_gate(path: str, taken, release) -> None:
    database = opened(Path(path))
    with database.write():
        taken.set()
        release.wait(60)


def test_writers_of_two_processes_and_many_threads_never_overlap(path):
    other = multiprocessing.get_context("fork").Process(target=count_up, args=(path, STEPS))
    other.start()
    count_up(path, STEPS)
    other.join(120)
    assert other.exitcode == 0
    database = opened(path)
    with database.read() as conn:
        assert conn.execute(COUNTER).fetchone()[0] == 2 * THREADS * STEPS


def test_a_writer_waits_no_longer_than_its_timeout_then_says_locked(path):
    context = multiprocessing.get_context("fork")
    taken, release = context.Event(), context.Event()
    holder = context.Process(target=hold_gate, args=(str(path), taken, release))
    holder.start()
    try:
        assert taken.wait(30)
        database = opened(path, busy_timeout_ms=200)
        with pytest.raises(StoreUnavailable, match="locked"):
            with database.write() as conn:
                conn.execute(WRITE, (1,))
        # The readiness probe says busy, not broken, and does not wait for the holder.
        assert database.probe_write() is None
    finally:
        release.set()
        holder.join(30)


def test_a_killed_holder_gives_the_gate_back(path):
    context = multiprocessing.get_context("fork")
    taken, release = context.Event(), context.Event()
    holder = context.Process(target=hold_gate, args=(str(path), taken, release))
    holder.start()
    assert taken.wait(30)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(30)
    database = opened(path)  # 5 s: the kill frees the gate (and SQLite's lock) at once
    with database.write() as conn:
        conn.execute(WRITE, (7,))
    with database.read() as conn:
        assert conn.execute(COUNTER).fetchone()[0] == 7


def test_threads_of_one_process_wait_for_the_holder_within_their_timeout(path):
    database = opened(path, busy_timeout_ms=200)
    taken, release, failures = threading.Event(), threading.Event(), []

    def hold():
        with database.write():
            taken.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(30)

        def write():
            try:
                with database.write() as conn:
                    conn.execute(WRITE, (1,))
            except StoreUnavailable as exc:
                failures.append(str(exc))

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(30)
        assert failures and "locked" in failures[0]
    finally:
        release.set()
        holder.join(30)
    with database.write() as conn:  # released: the next writer gets in
        conn.execute(WRITE, (3,))


def test_a_callers_deadline_cuts_the_wait_for_the_gate_short(path):
    database, other = opened(path), opened(path)  # two gates, as two processes have
    taken, release = threading.Event(), threading.Event()

    def hold():
        with other.write():
            taken.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    # Released within the 5 s busy timeout: only the deadline makes the write give up.
    timer = threading.Timer(3.0, release.set)
    timer.start()
    try:
        assert taken.wait(30)
        with pytest.raises(StoreUnavailable, match="locked"):
            with database.bounded(time.monotonic() + 0.2):
                with database.write() as conn:
                    conn.execute(WRITE, (1,))
    finally:
        release.set()
        timer.cancel()
        holder.join(30)

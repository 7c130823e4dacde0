"""Group commit (app/store/group_commit.py): calls of many threads share one transaction,
each in its own savepoint, and none is answered before that transaction committed."""
from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.store.database import SQLiteDatabase
from app.store.group_commit import GroupCommit

READ = "SELECT value FROM store_meta WHERE key = ?"
WRITE = ("INSERT INTO store_meta (key, value) VALUES (?, ?) "
         "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
CALLERS = 6


def stored(db, key: str):
    """What another thread, on its own connection, reads: only committed work."""
    found = []

    def read():
        with db.read() as conn:
            row = conn.execute(READ, (key,)).fetchone()
            found.append(None if row is None else row[0])

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(30)
    return found[0]


def queued(group: GroupCommit) -> int:
    with group._lock:
        return len(group._queue)


def held_group(db, works):
    """Run ``works`` as one group: the first call holds its transaction open until every
    other call has queued behind it. Returns each call's answer or exception, in order."""
    group = GroupCommit(db)
    entered, release = threading.Event(), threading.Event()

    def first():
        with db.write() as conn:
            conn.execute(WRITE, ("first", 1))
        entered.set()
        assert release.wait(30)
        return "first"

    def call(work):
        try:
            return group.run(work)
        except Exception as exc:  # the answer of this call, compared below
            return exc

    with ThreadPoolExecutor(len(works) + 1) as pool:
        leader = pool.submit(call, first)
        assert entered.wait(30)
        others = [pool.submit(call, work) for work in works]
        deadline = threading.Event()
        while queued(group) < len(works) and not deadline.wait(0.01):
            pass  # bounded by the futures' timeouts below
        release.set()
        return leader.result(timeout=60), [f.result(timeout=60) for f in others]


def write_and_see(db, key: str, value: int):
    def work():
        with db.write() as conn:
            conn.execute(WRITE, (key, value))
        return value
    return work


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_failing_call_changes_nothing_and_the_others_of_its_group_are_done(db):
    def failing():
        with db.write() as conn:
            conn.execute(WRITE, ("failed", 9))
        raise ValueError("this call only")

    works = [write_and_see(db, f"k{i}", i) for i in range(CALLERS)]
    works.insert(2, failing)
    first, answers = held_group(db, works)
    assert first == "first"
    assert isinstance(answers[2], ValueError) and str(answers[2]) == "this call only"
    del answers[2]
    assert answers == list(range(CALLERS))
    assert [stored(db, f"k{i}") for i in range(CALLERS)] == list(range(CALLERS))
    assert stored(db, "first") == 1
    assert stored(db, "failed") is None


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_call_is_answered_only_after_its_group_committed(db):
    group = GroupCommit(db)

    def call(i):
        group.run(write_and_see(db, f"seen{i}", i))
        return stored(db, f"seen{i}")  # at once, from another connection

    with ThreadPoolExecutor(CALLERS) as pool:
        assert list(pool.map(call, range(4 * CALLERS))) == list(range(4 * CALLERS))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_failing_commit_fails_every_call_of_the_group_and_stores_none(db):
    def breaks_the_commit():
        # Checked only at COMMIT: the savepoint of this call is released without error.
        with db.write() as conn:
            conn.execute("PRAGMA defer_foreign_keys = ON")
            conn.execute("INSERT INTO tenant_readiness_durations (tenant_id, bucket, value) "
                         "VALUES ('no-such-tenant', 0, 1)")
        return "broke"

    works = [write_and_see(db, f"c{i}", i) for i in range(3)] + [breaks_the_commit]
    first, answers = held_group(db, works)
    assert isinstance(first, sqlite3.IntegrityError)
    assert all(isinstance(a, sqlite3.IntegrityError) for a in answers)
    assert [stored(db, f"c{i}") for i in range(3)] == [None] * 3
    assert stored(db, "first") is None
    # The next calls form a new group and commit.
    assert GroupCommit(db).run(write_and_see(db, "after", 5)) == 5
    assert stored(db, "after") == 5


def test_inside_an_open_write_a_call_joins_it(db):
    group = GroupCommit(db, share=isinstance(db, SQLiteDatabase))
    with pytest.raises(RuntimeError):
        with db.write():
            assert group.run(write_and_see(db, "joined", 3)) == 3
            raise RuntimeError("the outer write fails")
    assert stored(db, "joined") is None


def test_unshared_calls_each_commit_alone(db):
    group = GroupCommit(db, share=False)
    with ThreadPoolExecutor(CALLERS) as pool:
        answers = list(pool.map(lambda i: group.run(write_and_see(db, f"u{i}", i)),
                                range(CALLERS)))
    assert answers == list(range(CALLERS))
    assert [stored(db, f"u{i}") for i in range(CALLERS)] == list(range(CALLERS))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_calls_queued_behind_a_store_that_takes_no_write_are_all_told_so(db):
    from app.store import StoreUnavailable

    impatient = SQLiteDatabase(db.path, busy_timeout_ms=300)
    impatient.open()
    other = SQLiteDatabase(db.path)  # another gate, as another process has
    other.open()
    group = GroupCommit(impatient)
    taken, release = threading.Event(), threading.Event()

    def hold():
        with other.write():
            taken.set()
            assert release.wait(60)

    def call(i):
        try:
            return group.run(write_and_see(impatient, f"q{i}", i))
        except StoreUnavailable as exc:
            return str(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(30)
        with ThreadPoolExecutor(CALLERS) as pool:
            answers = list(pool.map(call, range(CALLERS)))
    finally:
        release.set()
        holder.join(30)
    assert all("locked" in a for a in answers), answers
    assert [stored(db, f"q{i}") for i in range(CALLERS)] == [None] * CALLERS
    assert group.run(write_and_see(impatient, "later", 1)) == 1  # the store takes writes again
    impatient.close()
    other.close()

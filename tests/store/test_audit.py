"""The audit log's store (app/store/audit.py) on both backends: appended in the caller's
transaction, actors of one shape only, expired entries never answered and pruned."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.store.audit import PRUNE_BATCH, PRUNE_SLACK, AuditLog


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def log(db, clock):
    return AuditLog(db, retention_days=90, clock=clock)


def rows(db) -> int:
    with db.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]


def test_an_entry_joins_the_callers_transaction(db, log):
    with pytest.raises(RuntimeError):
        with db.write():
            log.record("create", "acme", ["hosts"], "cli")
            raise RuntimeError("the change failed")
    assert log.entries() == []
    with db.write():
        log.record("create", "acme", ["limits", "hosts"], "key:0123abcd")
    (entry,) = log.entries()
    assert (entry.action, entry.tenant, entry.fields, entry.actor) == (
        "create", "acme", ["hosts", "limits"], "key:0123abcd")
    assert entry.at == "2026-03-01T12:00:00.000Z"


@pytest.mark.parametrize("actor", ["adm-key-one-5f0c2e", "key:0123abc", "key:0123ABCD",
                                   "key:0123abcd9", "", "CLI", None])
def test_an_actor_that_could_be_a_key_is_refused_before_anything_is_written(log, db, actor):
    with pytest.raises(ValueError):
        log.record("create", "acme", [], actor)
    assert rows(db) == 0


def test_an_unknown_action_is_refused(log, db):
    with pytest.raises(ValueError):
        log.record("rename", "acme", [], "cli")
    assert rows(db) == 0


def test_expired_entries_are_never_answered_and_are_pruned_by_later_appends(db, log, clock):
    for index in range(PRUNE_BATCH + 5):
        log.record("update", "old", ["limits"], "cli")
    clock.now += timedelta(days=89)
    log.record("update", "recent", ["hosts"], "cli")
    assert len(log.entries(limit=1000)) == PRUNE_BATCH + 6  # nothing older than 90 days yet

    clock.now += timedelta(days=2)  # the first batch is 91 days old now
    assert [e.tenant for e in log.entries(limit=1000)] == ["recent"]
    log.record("create", "new", [], "cli")
    assert rows(db) == 5 + 2  # one append removed one bounded batch
    log.record("create", "newer", [], "cli")
    assert rows(db) == 3
    assert [e.tenant for e in log.entries(limit=1000)] == ["newer", "new", "recent"]


def stored_at(db, at: datetime) -> None:
    """An entry stored as an older process would have left it (``at`` in the past)."""
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with db.write() as conn:
        conn.execute("INSERT INTO audit_log (at, action, tenant_id, fields_json, actor) "
                     "VALUES (?, 'update', 'old', '[]', 'cli')", (stamp,))


def test_appends_look_for_expired_entries_again_once_the_oldest_kept_can_expire(db, log, clock):
    started = clock.now
    log.record("create", "first", [], "cli")  # the log is clear: nothing expires before it
    stored_at(db, started - timedelta(days=200))  # expired, but older than anything seen
    log.record("update", "second", [], "cli")
    assert rows(db) == 3  # not looked for: appends skip the removal until then
    assert [e.tenant for e in log.entries()] == ["second", "first"]  # never answered
    clock.now = started + timedelta(days=90) + PRUNE_SLACK
    log.record("update", "third", [], "cli")
    assert [e.tenant for e in log.entries()] == ["third"]
    assert rows(db) == 1  # "first", "second" and the old one were all removed


def test_a_removal_rolled_back_with_its_write_is_done_again_by_the_next_append(db, log, clock):
    stored_at(db, clock.now - timedelta(days=200))
    with pytest.raises(RuntimeError):
        with db.write():
            log.record("create", "acme", [], "cli")
            raise RuntimeError("the change failed")
    assert rows(db) == 1  # the removal went with the write
    log.record("create", "acme", [], "cli")
    assert rows(db) == 1


def test_zero_days_keeps_every_entry(db, clock):
    log = AuditLog(db, retention_days=0, clock=clock)
    log.record("create", "acme", [], "cli")
    clock.now += timedelta(days=100_000)
    log.record("purge", "acme", [], "cli")
    assert [e.action for e in log.entries()] == ["purge", "create"]


def test_pages_by_tenant_and_before(log):
    for index in range(5):
        log.record("update", "acme" if index % 2 else "beta", [], "server")
    acme = log.entries("acme")
    assert [e.tenant for e in acme] == ["acme", "acme"]
    assert log.entries("acme", before=acme[0].id) == acme[1:]
    assert log.entries(limit=2) == log.entries()[:2]
    for bad in (0, 1002):
        with pytest.raises(ValueError):
            log.entries(limit=bad)

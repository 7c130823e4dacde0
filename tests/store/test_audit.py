"""The audit log's store (app/store/audit.py) on both backends: appended in the caller's
transaction, actors of one shape only, expired entries never answered and pruned."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.store.audit import PRUNE_BATCH, AuditLog


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

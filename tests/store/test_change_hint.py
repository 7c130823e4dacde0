"""The change token a tenant request asks for: cheap, and moving with every config change."""
from __future__ import annotations

import pytest

from app.store import Store
from app.store.change_hint import ChangeHint
from app.store.database import SQLiteDatabase
from app.store.migrations import migrate


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_config_change_moves_the_token_of_every_store_on_the_file(db, add_tenant):
    # With SQLite, another worker's view: its own connections and its own mapping.
    other = SQLiteDatabase(db.path) if db.dialect == "sqlite" else db
    if other is not db:
        other.open()
    try:
        reader = Store(other)
        before = reader.change_token()

        add_tenant("acme")  # through the fixture's own store

        assert reader.change_token() != before
    finally:
        if other is not db:
            other.close()


def test_a_write_that_changes_no_config_leaves_the_token(store, add_tenant):
    add_tenant("acme")
    before = store.change_token()

    store.limits.add_rejections({("acme", "ocr", "tenant"): 3})
    store.tenant_readiness.set_override("acme", True)

    assert store.change_token() == before


def test_a_rolled_back_change_does_not_bump_the_hint(tmp_path):
    db = _sqlite(tmp_path)
    try:
        before = db.hint.read()
        with pytest.raises(RuntimeError):
            with db.write() as conn:
                conn.execute("UPDATE store_meta SET value = value + 1 "
                             "WHERE key = 'config_version'")
                conn.config_changed()
                raise RuntimeError("the request failed")
        assert db.hint.read() == before
    finally:
        db.close()


def test_a_change_whose_hint_was_never_bumped_is_seen_within_a_second(tmp_path):
    db, clock = _sqlite(tmp_path), Clock()
    try:
        store = Store(db, clock=clock)
        before = store.change_token()
        # A writer that died between its commit and the hint's bump.
        with db.write() as conn:
            conn.execute("UPDATE store_meta SET value = value + 1 WHERE key = 'config_version'")
        assert store.change_token() == before  # no store read: still the hint alone
        clock.now += 1.0
        assert store.change_token() != before
    finally:
        db.close()


def test_the_hint_is_a_counter_shared_through_its_file(tmp_path):
    first, second = ChangeHint(tmp_path / "hint"), ChangeHint(tmp_path / "hint")
    try:
        for _ in range(5):
            first.bump()
        second.bump()
        assert first.read() == second.read() == 6
    finally:
        first.close()
        second.close()


def _sqlite(tmp_path) -> SQLiteDatabase:
    db = SQLiteDatabase(tmp_path / "store" / "tenants.sqlite3")
    db.open()
    migrate(db)
    return db

"""Purge is crash-safe: a purge cut short is finished, or undone, at the next start.

The end-to-end story (a crashed process, then gunicorn started again) is in
tests/security/test_hostile_purge.py; here each of recover()'s cases on its own.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.tenants import purge
from app.tenants.purge import recover
from app.services import services_of

KEY = "purge-admin-key-7a44"
ADMIN = {"X-Admin-Key": KEY}


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": KEY}


@pytest.fixture
def store(app):
    return services_of(app).store


@pytest.fixture
def acme(client, root) -> dict[str, bytes]:
    """Tenant acme with a file in each of its directories; returns those files' bytes."""
    assert client.put("/admin/tenants/acme", json={}, headers=ADMIN).status_code == 201
    (root / "acme" / "data" / "notes.txt").write_bytes(b"acme's notes")
    (root / "acme" / "uploads" / "scan.bin").write_bytes(b"acme's scan")
    return files(root / "acme")


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def quarantined(root: Path) -> list[Path]:
    return sorted(root.glob(".purged-*"))


def test_a_purge_that_committed_is_finished_at_the_next_start(client, store, root, acme,
                                                              monkeypatch):
    with monkeypatch.context() as crashed:
        # The crash: the deletion committed, the directories not yet deleted.
        crashed.setattr(purge.Quarantine, "remove", lambda self: None)
        assert client.delete("/admin/tenants/acme?purge=1", headers=ADMIN).status_code == 200
    assert len(quarantined(root)) == 1 and not (root / "acme" / "data").exists()

    recover(store, str(root))

    assert quarantined(root) == [] and not (root / "acme").exists()
    assert client.get("/admin/tenants/acme", headers=ADMIN).status_code == 404


def test_a_purge_that_did_not_commit_is_undone_at_the_next_start(client, store, root, acme,
                                                                 monkeypatch, caplog):
    keep = store.db.on_commit

    def crash(callback):  # when the removal of the moved directories is registered
        if isinstance(getattr(callback, "__self__", None), purge.Quarantine):
            raise RuntimeError("the process died here")
        keep(callback)

    with monkeypatch.context() as crashed:
        # The crash: the directories moved aside, the deletion never committed.
        crashed.setattr(purge.Quarantine, "restore", lambda self: None)
        crashed.setattr(store.db, "on_commit", crash)
        with pytest.raises(RuntimeError, match="died"):
            purge.purge_tenant(store, str(root), "acme", "cli")
    assert len(quarantined(root)) == 1 and not (root / "acme" / "data").exists()

    with caplog.at_level(logging.WARNING, logger="app.tenants.purge"):
        recover(store, str(root))

    assert quarantined(root) == [] and files(root / "acme") == acme
    assert "tenant acme: purge did not commit; directories put back" in caplog.messages
    assert client.get("/admin/tenants/acme", headers=ADMIN).status_code == 200


def test_a_quarantine_cut_short_before_its_origin_was_written_is_deleted(store, root, acme):
    # Nothing was moved into it yet: only the directory itself was made.
    (root / ".purged-acme-0123").mkdir()

    recover(store, str(root))

    assert quarantined(root) == [] and files(root / "acme") == acme

"""The default tenant (contract sec. 11): registered at server start, once, in the cap."""
from __future__ import annotations

import io
import os
import signal

import pytest
import requests

from app.services import services_of
from app.settings import load_settings
from app.tenants.default_tenant import register_default_tenant
from app.tenants.registration import build_record
from tests.support.polling import poll
from tests.support.server import running_server

ADMIN_KEY = "default-tenant-admin"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
ENV = {"TENANT_ADMIN_KEY": ADMIN_KEY, "DEFAULT_TENANT": "default"}
CLOSE = {"Connection": "close"}


def tenant_ids(server) -> list[str]:
    answer = requests.get(server.url("/admin/tenants"), headers={**ADMIN, **CLOSE}, timeout=15)
    return [t["tenant_id"] for t in answer.json()["tenants"]]


def test_registering_creates_the_default_tenant_once(app):
    found = services_of(app)
    settings = load_settings(environ={"TENANT_DB_PATH": found.settings.db_path,
                                      "TENANT_DATA_ROOT": found.settings.data_root,
                                      "DEFAULT_TENANT": "home"})
    assert register_default_tenant(found.store, settings) is True
    assert register_default_tenant(found.store, settings) is False  # there already
    record = found.store.tenants.get("home")
    assert record is not None and record.enabled
    assert record.data_dir.endswith("/home/data") and record.uploads_dir.endswith("/home/uploads")


def test_a_full_label_cap_leaves_the_default_tenant_unregistered(app):
    found = services_of(app)
    settings = load_settings(environ={"TENANT_DB_PATH": found.settings.db_path,
                                      "TENANT_DATA_ROOT": found.settings.data_root,
                                      "MAX_TENANT_LABELS": "1"})
    found.store.tenants.ensure(build_record(settings, "other", {}), 1)
    assert register_default_tenant(found.store, settings) is False
    assert found.store.tenants.get("default") is None
    assert found.store.tenants.label_rejections() == 1  # refused by the cap, and counted


def test_no_default_tenant_registers_nothing(app):
    found = services_of(app)
    settings = load_settings(environ={"TENANT_DB_PATH": found.settings.db_path,
                                      "TENANT_DATA_ROOT": found.settings.data_root,
                                      "DEFAULT_TENANT": ""})
    assert settings.default_tenant is None
    assert register_default_tenant(found.store, settings) is False
    assert found.store.tenants.count() == 0


@pytest.mark.gunicorn
def test_a_fresh_server_serves_the_default_tenant_at_root_paths(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        health = requests.get(server.url("/health"), headers=CLOSE, timeout=15)
        exams = requests.get(server.url("/exams"), headers=CLOSE, timeout=15)
        upload = requests.post(server.url("/uploads"), headers=CLOSE, timeout=15,
                               files={"file": ("a.txt", io.BytesIO(b"hello"))})
        listed = tenant_ids(server)

    assert (health.status_code, health.json()["tenant"]) == (200, "default")
    assert exams.json() == {"tenant": "default", "exams": []}
    assert (upload.status_code, upload.json()["tenant"]) == (202, "default")
    assert listed == ["default"]


@pytest.mark.gunicorn
def test_two_servers_starting_at_once_on_one_store_register_it_once(tmp_path):
    (tmp_path / "b").mkdir()
    shared = {**ENV, "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
              "TENANT_DATA_ROOT": str(tmp_path / "tenants")}
    with running_server(tmp_path, workers=2, env=shared, wait=False) as first, \
            running_server(tmp_path / "b", workers=2, env=shared, wait=False) as second:
        first.wait_ready()
        second.wait_ready()
        assert tenant_ids(first) == tenant_ids(second) == ["default"]
        assert "Traceback" not in first.log() + second.log()


@pytest.mark.gunicorn
def test_a_purged_default_tenant_stays_purged_until_the_next_start(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        answer = requests.delete(server.url("/admin/tenants/default?purge=1"),
                                 headers={**ADMIN, **CLOSE}, timeout=15).json()
        assert answer["purged"] is True and answer["registered_again_at_start"] is True
        for pid in server.worker_pids():  # a respawned worker does not bring it back
            os.kill(pid, signal.SIGKILL)
        poll(lambda: len(server.worker_pids()), lambda n: n == 2)
        server.wait_ready()
        assert tenant_ids(server) == []
        missing = requests.get(server.url("/health"), headers=CLOSE, timeout=15)
        assert (missing.status_code, missing.json()) == (404, {"error": "unknown_tenant"})
    with running_server(tmp_path, workers=2, env=ENV) as again:  # the next start does
        assert tenant_ids(again) == ["default"]
        assert requests.get(again.url("/health"), headers=CLOSE, timeout=15).status_code == 200


@pytest.mark.gunicorn
def test_an_empty_default_tenant_means_none_at_root_paths(tmp_path):
    with running_server(tmp_path, workers=2, env={**ENV, "DEFAULT_TENANT": ""}) as server:
        answer = requests.get(server.url("/health"), headers=CLOSE, timeout=15)
        assert (answer.status_code, answer.json()) == (404, {"error": "unknown_tenant"})
        assert tenant_ids(server) == []

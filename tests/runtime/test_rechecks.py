"""Scheduled rechecks in one process (contract sec. 12): transient failures heal with no
operator, a hung validator delays no other tenant, and the metrics say what happened.

Across workers and hosts: tests/runtime/test_rechecks_gunicorn.py and
tests/multihost/test_rechecks.py.
"""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from flask import Blueprint

from app.runtime import ValidationFailure, register_tenant_blueprint, register_tenant_resource
from app.services import services_of
from tests.runtime.helpers import AUTH, KEY, put
from tests.support.metrics_text import scrape, value
from tests.support.polling import wait_until

bp = Blueprint("recheck_probe", __name__, url_prefix="/probe")


@bp.route("")
def probe():
    return {"ok": True}


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": KEY, "RECHECK_SECONDS": 0.2, "RECHECK_MAX_SECONDS": 0.4,
            "VALIDATOR_TIMEOUT_SECONDS": 30}


class Validators:
    """Per-tenant validator behaviour: count runs, and hang a tenant's on an event."""

    def __init__(self):
        self.runs: dict[str, int] = {}
        self.hang: dict[str, threading.Event] = {}
        self.fail: dict[str, ValidationFailure] = {}

    def __call__(self, obj, record):
        tenant = record.tenant_id
        self.runs[tenant] = self.runs.get(tenant, 0) + 1
        if tenant in self.hang:
            self.hang[tenant].wait(60)
        if tenant in self.fail:
            raise self.fail[tenant]


@pytest.fixture
def validators(app):
    validators = Validators()
    register_tenant_resource(app, "probe", lambda record: object(), validators)
    register_tenant_blueprint(app, bp)
    yield validators
    for event in validators.hang.values():
        event.set()


def state_of(client, tenant: str) -> str:
    return client.get(f"/admin/tenants/{tenant}", headers=AUTH).json["health"]["state"]


def start(app):
    services_of(app).rechecker.start()


def test_a_vanished_directory_turns_unverified_then_healthy_with_no_operator(
        app, client, validators):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/probe").status_code == 200
    data_dir = Path(client.get("/admin/tenants/acme", headers=AUTH).json["data_dir"])
    start(app)
    shutil.rmtree(data_dir)
    assert wait_until(lambda: state_of(client, "acme") == "unverified", 30)
    assert client.get("/t/acme/probe").status_code == 200  # unverified keeps serving
    data_dir.mkdir()
    assert wait_until(lambda: state_of(client, "acme") == "healthy", 30)
    metrics = scrape(client)
    assert value(metrics, "tenant_rechecks_total", result="transient") >= 1
    assert value(metrics, "tenant_rechecks_total", result="ok") >= 1


def test_a_hung_validator_delays_no_other_tenants_recheck(app, client, validators):
    for tenant in ("stuck", "fine"):
        assert put(client, tenant).status_code == 201
        assert client.get(f"/t/{tenant}/probe").status_code == 200
    validators.hang["stuck"] = threading.Event()
    start(app)
    assert wait_until(lambda: validators.runs["stuck"] == 2, 30)  # its recheck hangs now
    before = validators.runs["fine"]
    assert wait_until(lambda: validators.runs["fine"] >= before + 5, 30)
    assert validators.runs["stuck"] == 2  # one call in flight, no pile of threads
    began = time.monotonic()
    assert client.get("/t/stuck/probe").status_code == 200  # no request thread held
    assert time.monotonic() - began < 5
    validators.hang.pop("stuck").set()
    assert wait_until(lambda: validators.runs["stuck"] >= 3, 30)


@pytest.mark.parametrize("settings_overrides", [
    {"TENANT_ADMIN_KEY": KEY, "RECHECK_SECONDS": 0.2, "VALIDATOR_TIMEOUT_SECONDS": 0.2}])
def test_a_validator_past_its_deadline_counts_as_a_timeout(app, client, validators):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/probe").status_code == 200
    validators.hang["acme"] = threading.Event()
    start(app)
    assert wait_until(lambda: value(scrape(client), "tenant_rechecks_total",
                                    result="timeout") >= 1, 30)
    assert state_of(client, "acme") == "unverified"


def test_a_permanent_failure_disables_and_a_later_pass_heals(app, client, validators):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/probe").status_code == 200
    validators.fail["acme"] = ValidationFailure("account closed", recovery="permanent")
    start(app)
    assert wait_until(lambda: state_of(client, "acme") == "disabled", 30)
    assert client.get("/t/acme/probe").json["error"] == "tenant_unavailable"
    del validators.fail["acme"]
    assert wait_until(lambda: state_of(client, "acme") == "healthy", 30)
    assert client.get("/t/acme/probe").status_code == 200


def test_tenant_health_state_has_one_series_per_state(client, validators):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/probe").status_code == 200
    metrics = scrape(client)
    states = {s: value(metrics, "tenant_health_state", tenant="acme", state=s)
              for s in ("pending", "healthy", "unverified", "disabled")}
    assert states == {"pending": 0, "healthy": 1, "unverified": 0, "disabled": 0}
    for result in ("ok", "transient", "permanent", "timeout"):
        assert value(metrics, "tenant_rechecks_total", result=result) == 0


def test_only_loaded_tenants_are_rechecked(app, client, validators):
    for tenant in ("used", "idle"):
        assert put(client, tenant).status_code == 201
    assert client.get("/t/used/probe").status_code == 200
    start(app)
    assert wait_until(lambda: validators.runs.get("used", 0) >= 3, 30)
    assert "idle" not in validators.runs


@pytest.mark.parametrize("settings_overrides", [{"TENANT_ADMIN_KEY": KEY,
                                                 "RECHECK_SECONDS": 0}])
def test_recheck_seconds_zero_turns_them_off(app, client, validators):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/probe").status_code == 200
    rechecker = services_of(app).rechecker
    rechecker.start()
    assert rechecker.run_once() == []
    assert not [t for t in threading.enumerate() if t.name == "tenant-rechecks"]

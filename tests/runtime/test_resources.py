"""Tenant resources (contract sec. 12) through HTTP: built once, closed with the runtime,
a raising factory disables the tenant, and validators feed the one health machine."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Blueprint

from app import close_app
from app.runtime import (TenantContext, ValidationFailure, register_tenant_blueprint,
                         register_tenant_resource, tenant_resource, use_tenant)
from tests.runtime.helpers import AUTH, KEY, put, recheck
from tests.support.polling import wait_until

bp = Blueprint("resource_probe", __name__, url_prefix="/probe")


@bp.route("")
def probe():
    client = tenant_resource("conn")
    return {"tenant": client.tenant, "serial": client.serial, "closed": client.closed}


class Conn:
    def __init__(self, tenant: str, serial: int):
        self.tenant, self.serial, self.closed = tenant, serial, False


class Team:
    """A team's resource: counts builds and closes; its validator and factory can fail."""

    def __init__(self):
        self.lock = threading.Lock()
        self.built: list[Conn] = []
        self.validations = 0
        self.factory_error: Exception | None = None
        self.validator_error: Exception | None = None
        self.factory_gate: threading.Event | None = None
        self.factory_calls = 0

    def factory(self, record):
        self.factory_calls += 1
        if self.factory_gate is not None:
            self.factory_gate.wait(10)
        if self.factory_error is not None:
            raise self.factory_error
        with self.lock:
            conn = Conn(record.tenant_id, len(self.built) + 1)
            self.built.append(conn)
        return conn

    def validator(self, conn, record):
        self.validations += 1
        if self.validator_error is not None:
            raise self.validator_error

    def close(self, conn):
        conn.closed = True

    def builds(self, tenant: str) -> list[Conn]:
        return [c for c in self.built if c.tenant == tenant]


@pytest.fixture
def settings_overrides():
    # 32 request threads that may all be one tenant's: the thread share refuses none.
    return {"TENANT_ADMIN_KEY": KEY, "GUNICORN_THREADS": 32, "TENANT_MAX_THREAD_SHARE": 1}


@pytest.fixture
def team(app):
    team = Team()
    register_tenant_resource(app, "conn", team.factory, team.validator, team.close)
    register_tenant_blueprint(app, bp)
    return team


def health_of(client, tenant: str) -> dict:
    return client.get(f"/admin/tenants/{tenant}", headers=AUTH).json["health"]


def test_resource_is_built_once_under_32_concurrent_first_hits(app, team):
    client = app.test_client()
    assert put(client, "acme").status_code == 201
    team.factory_gate = threading.Event()  # every hit arrives before the build finishes
    with ThreadPoolExecutor(32) as pool:
        hits = [pool.submit(lambda: app.test_client().get("/t/acme/probe")) for _ in range(32)]
        assert wait_until(lambda: team.factory_calls >= 1)
        team.factory_gate.set()
        answers = [hit.result(timeout=60) for hit in hits]
    served = [a for a in answers if a.status_code == 200]
    # A hit that waited out the build is answered 503 tenant_pending, never a second build.
    assert {a.status_code for a in answers} <= {200, 503}
    assert served and {a.json["serial"] for a in served} == {1}
    assert len(team.builds("acme")) == 1
    assert client.get("/t/acme/probe").json == {"tenant": "acme", "serial": 1, "closed": False}


def test_each_tenant_gets_its_own_object(client, team):
    for tenant in ("acme", "globex"):
        assert put(client, tenant).status_code == 201
    assert client.get("/t/acme/probe").json["tenant"] == "acme"
    assert client.get("/t/globex/probe").json["tenant"] == "globex"
    assert [c.tenant for c in team.built] == ["acme", "globex"]


@pytest.mark.parametrize("change, next_status", [
    ("disable", 503), ("purge", 404), ("reconfigure", 200), ("health-disabled", 503)])
def test_resource_is_closed_when_its_tenant_changes(client, data_root, team, change,
                                                    next_status):
    for tenant in ("acme", "other"):
        assert put(client, tenant).status_code == 201
        assert client.get(f"/t/{tenant}/probe").status_code == 200
    first, others = team.builds("acme")[0], team.builds("other")[0]
    if change == "disable":
        assert client.delete("/admin/tenants/acme", headers=AUTH).status_code == 200
    elif change == "purge":
        assert client.delete("/admin/tenants/acme?purge=1", headers=AUTH).status_code == 200
    elif change == "reconfigure":
        assert put(client, "acme", {"extra": {"v": 2}}).status_code == 200
    else:
        team.validator_error = ValidationFailure("credentials revoked", recovery="permanent")
        assert recheck(client, "acme").json["health"]["state"] == "disabled"
    assert client.get("/t/acme/probe").status_code == next_status
    assert first.closed
    assert not others.closed  # another tenant's object is left alone
    # Back in service (re-enabled, registered again, healed), it is built afresh, once.
    if change in ("disable", "purge"):
        assert put(client, "acme").status_code in (200, 201)
    elif change == "health-disabled":
        team.validator_error = None
        assert recheck(client, "acme").json["health"]["state"] == "healthy"
    fresh = client.get("/t/acme/probe")
    assert fresh.status_code == 200 and fresh.json["serial"] == 3
    assert client.get("/t/acme/probe").json["serial"] == 3
    assert len(team.builds("acme")) == 2 and not team.builds("acme")[1].closed


def test_resources_are_closed_when_the_app_unloads_its_tenants(app, team):
    client = app.test_client()
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/probe").status_code == 200
    close_app(app)
    assert team.builds("acme")[0].closed


def test_raising_factory_disables_the_tenant_until_a_recheck(client, team):
    assert put(client, "acme").status_code == 201
    team.factory_error = ConnectionError("vault unreachable")
    for _ in range(3):
        answer = client.get("/t/acme/probe")
        assert answer.status_code == 503 and answer.json["error"] == "tenant_unavailable"
    health = health_of(client, "acme")
    assert health["state"] == "disabled" and "vault unreachable" in health["reason"]
    assert team.factory_calls == 1  # not retried per request
    assert recheck(client, "acme").json["health"]["state"] == "disabled"
    assert team.factory_calls == 2  # a recheck tries again
    team.factory_error = None
    assert recheck(client, "acme").json["health"]["state"] == "healthy"
    assert client.get("/t/acme/probe").json["serial"] == 1
    assert team.factory_calls == 3


def test_transient_validator_failure_after_healthy_keeps_serving(client, team):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/probe").status_code == 200
    team.validator_error = ValidationFailure("model endpoint slow", recovery="transient")
    health = recheck(client, "acme").json["health"]
    assert health["state"] == "unverified" and "model endpoint slow" in health["reason"]
    answer = client.get("/t/acme/probe")
    assert answer.status_code == 200 and answer.json["serial"] == 1  # same object, serving
    team.validator_error = None
    assert recheck(client, "acme").json["health"]["state"] == "healthy"


def test_an_unexpected_validator_error_counts_as_transient(client, team):
    assert put(client, "acme").status_code == 201
    assert client.get("/t/acme/probe").status_code == 200
    team.validator_error = KeyError("token")
    health = recheck(client, "acme").json["health"]
    assert health["state"] == "unverified" and "KeyError" in health["reason"]


def test_a_permanent_failure_of_a_first_validation_disables(client, team):
    assert put(client, "acme").status_code == 201
    team.validator_error = ValidationFailure("wrong account", recovery="permanent")
    answer = client.get("/t/acme/probe")
    assert answer.status_code == 503 and answer.json["error"] == "tenant_unavailable"
    assert team.builds("acme")[0].closed


def test_tenant_resource_in_a_use_tenant_block(app, client, team):
    assert put(client, "acme").status_code == 201
    with app.app_context(), use_tenant(TenantContext("acme")):
        assert tenant_resource("conn").tenant == "acme"
    with app.app_context(), pytest.raises(RuntimeError, match="use_tenant"):
        tenant_resource("conn")


def test_an_unregistered_name_is_a_lookup_error(app, client, team):
    assert put(client, "acme").status_code == 201
    with app.app_context(), use_tenant(TenantContext("acme")):
        with pytest.raises(LookupError, match="nope"):
            tenant_resource("nope")


def test_registration_after_the_first_request_is_refused(app, client, team):
    client.get("/healthz")
    with pytest.raises(RuntimeError, match="before the first request"):
        register_tenant_resource(app, "late", lambda record: object())
    with pytest.raises(ValueError, match="already registered"):
        app._got_first_request = False
        register_tenant_resource(app, "conn", lambda record: object())

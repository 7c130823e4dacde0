"""The pure resolution order of contract sec. 4: first match wins, step by step."""
from __future__ import annotations

import pytest

from app.store.tenant_readiness import ReadinessRow
from app.tenant_readiness.resolution import TenantStatus, resolve


def row(enabled=True, override=None, health="healthy", status=None, transitions=0):
    return ReadinessRow("acme", enabled, override, health, status, transitions)


def global_is(ready: bool):
    return lambda: ready


def must_not_ask():
    raise AssertionError("global readiness consulted although an earlier step matched")


def test_unregistered_tenant_is_unknown():
    assert resolve("acme", None, must_not_ask) == TenantStatus("acme", "unknown",
                                                               "unknown_tenant")


# (row, expected status, expected reason): each row is decided before inheritance.
DECIDED_BEFORE_INHERITANCE = [
    pytest.param(row(enabled=False), "not ready", "disabled", id="disabled"),
    pytest.param(row(enabled=False, override=True), "not ready", "disabled",
                 id="disabled-beats-override-true"),
    pytest.param(row(enabled=False, health="unverified"), "not ready", "disabled",
                 id="disabled-beats-health-unverified"),
    pytest.param(row(enabled=False, override=True, health="disabled"), "not ready", "disabled",
                 id="disabled-beats-everything"),
    pytest.param(row(override=True), "ready", "override", id="override-true"),
    pytest.param(row(override=False), "not ready", "override", id="override-false"),
    pytest.param(row(override=True, health="disabled"), "ready", "override",
                 id="override-true-beats-health-disabled"),
    pytest.param(row(override=True, health="unverified"), "ready", "override",
                 id="override-true-beats-health-unverified"),
    pytest.param(row(override=False, health="unverified"), "not ready", "override",
                 id="override-false-beats-health-unverified"),
    pytest.param(row(override=True, health="pending"), "ready", "override",
                 id="override-true-on-pending"),
    pytest.param(row(health="disabled"), "not ready", "health", id="health-disabled"),
    pytest.param(row(health="unverified"), "error", "check_failed", id="health-unverified"),
]


@pytest.mark.parametrize("stored, status, reason", DECIDED_BEFORE_INHERITANCE)
def test_earlier_step_wins_without_asking_global_readiness(stored, status, reason):
    result = resolve("acme", stored, must_not_ask)
    assert result == TenantStatus("acme", status, reason)


@pytest.mark.parametrize("health", ["pending", "healthy"])
@pytest.mark.parametrize("global_ready, status", [(True, "ready"), (False, "not ready")])
def test_tenant_without_override_inherits_global_readiness(health, global_ready, status):
    result = resolve("acme", row(health=health), global_is(global_ready))
    assert result == TenantStatus("acme", status, "inherited")


@pytest.mark.parametrize("stored", [
    row(override=False), row(enabled=False), row(health="disabled"), row(health="unverified")])
def test_decided_tenant_ignores_global_readiness_either_way(stored):
    assert resolve("acme", stored, global_is(True)) == resolve("acme", stored, global_is(False))


@pytest.mark.parametrize("previous", [None, "ready", "not ready", "error"])
def test_previously_observed_status_is_not_an_input(previous):
    stored = row(override=False, status=previous, transitions=7)
    assert resolve("acme", stored, must_not_ask) == TenantStatus("acme", "not ready",
                                                                 "override")


def test_global_readiness_is_asked_at_resolution_time():
    answers = iter([True, False])

    def flips():
        return next(answers)

    assert resolve("acme", row(), flips).status == "ready"
    assert resolve("acme", row(), flips).status == "not ready"


def test_status_names_the_tenant_it_was_resolved_for():
    assert resolve("zeta-9", row(), global_is(True)).tenant == "zeta-9"


@pytest.mark.parametrize("status, ready", [
    ("ready", True), ("not ready", False), ("unknown", False), ("error", False)])
def test_only_ready_status_counts_as_ready(status, ready):
    result = TenantStatus("acme", status, "inherited")
    assert result.ready is ready
    assert result.as_dict() == {"tenant": "acme", "status": status, "reason": "inherited"}

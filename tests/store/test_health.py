"""HealthStore on both backends: the persisted health of each tenant."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.store import HealthRecord
from app.store.health import STATES, HealthStore


@pytest.fixture
def health(store) -> HealthStore:
    return store.health


def test_a_new_tenant_is_pending(health, add_tenant):
    add_tenant("acme")
    assert health.get("acme") == HealthRecord("pending", None, None)
    assert health.get("nobody") is None


@pytest.mark.parametrize("state", STATES)
def test_set_records_state_reason_and_time(health, add_tenant, state):
    add_tenant("acme")
    health._now = lambda: "2030-01-01T00:00:00.000Z"
    recorded = health.set("acme", state, f"because {state}")
    assert recorded == HealthRecord(state, f"because {state}", "2030-01-01T00:00:00.000Z")
    assert health.get("acme") == recorded
    assert recorded.as_dict() == {"state": state, "reason": f"because {state}",
                                  "last_checked_at": "2030-01-01T00:00:00.000Z"}


def test_set_of_an_unknown_tenant_is_none_and_bumps_nothing(store, health):
    version = store.version()
    assert health.set("nobody", "healthy", None) is None
    assert store.version() == version


def test_unknown_state_is_refused_before_writing(store, health, add_tenant):
    add_tenant("acme")
    version = store.version()
    with pytest.raises(ValueError, match="unknown health state"):
        health.set("acme", "sleepy", None)
    assert health.get("acme").state == "pending"
    assert store.version() == version


def test_the_store_itself_refuses_an_unknown_state(store, add_tenant):
    """The CHECK constraint holds on both backends, whoever writes."""
    add_tenant("acme")
    with pytest.raises(Exception, match="(?i)check"):
        with store.db.write() as conn:
            conn.execute("UPDATE tenants SET health = 'sleepy' WHERE tenant_id = 'acme'")
    assert store.health.get("acme").state == "pending"


def test_every_change_bumps_the_config_version(store, health, add_tenant):
    add_tenant("acme")
    for state, reason in (("healthy", None), ("unverified", "slow"), ("unverified", "slower"),
                          ("healthy", None), ("disabled", "gone")):
        version = store.version()
        health.set("acme", state, reason)
        assert store.version() == version + 1, (state, reason)


def test_a_recheck_with_the_same_outcome_records_the_time_only(store, health, add_tenant):
    add_tenant("acme")
    health._now = lambda: "2030-01-01T00:00:00.000Z"
    health.set("acme", "healthy", None)
    version = store.version()
    health._now = lambda: "2030-01-02T00:00:00.000Z"
    assert health.set("acme", "healthy", None) == \
        HealthRecord("healthy", None, "2030-01-02T00:00:00.000Z")
    assert health.get("acme").last_checked_at == "2030-01-02T00:00:00.000Z"
    assert store.version() == version  # nothing for the workers to re-read


def test_health_shows_in_the_record_and_resets_on_re_registration(store, health, add_tenant):
    add_tenant("acme")
    health._now = lambda: "2030-01-01T00:00:00.000Z"
    health.set("acme", "disabled", "data_dir missing")
    record = store.tenants.get("acme")
    assert (record.health, record.health_reason, record.health_checked_at) == \
        ("disabled", "data_dir missing", "2030-01-01T00:00:00.000Z")
    add_tenant("acme")  # PUT again: validated afresh
    assert health.get("acme").state == "pending" and health.get("acme").reason is None


def test_concurrent_changes_each_bump_the_version_once(store, health, add_tenant):
    add_tenant("acme")
    threads = 8
    version = store.version()
    barrier = threading.Barrier(threads)

    def mark(i: int) -> None:
        barrier.wait(timeout=30)
        health.set("acme", "healthy" if i % 2 else "unverified", f"worker {i}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(mark, range(threads), timeout=60))
    assert store.version() == version + threads
    assert health.get("acme").reason in {f"worker {i}" for i in range(threads)}

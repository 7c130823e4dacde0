"""TenantReadinessStore on both backends: overrides, compare-and-set transitions, durations."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.store.tenant_readiness import ReadinessRow, TenantReadinessStore


@pytest.fixture
def readiness(store) -> TenantReadinessStore:
    return store.tenant_readiness


def test_a_new_tenant_has_no_override_and_no_status(readiness, add_tenant):
    add_tenant("acme")
    assert readiness.get("acme") == ReadinessRow("acme", True, None, "pending", None, 0)
    assert readiness.get("nobody") is None


def test_set_override_reports_whether_the_stored_value_changed(readiness, add_tenant):
    add_tenant("acme")
    steps = [(True, True), (True, False), (False, True), (False, False), (None, True),
             (None, False), (False, True), (None, True)]
    for ready, changed in steps:
        assert readiness.set_override("acme", ready) is changed, (ready, changed)
        assert readiness.get("acme").ready_override is ready


def test_set_override_of_an_unknown_tenant_changes_nothing(readiness, add_tenant):
    add_tenant("acme")
    assert readiness.set_override("nobody", True) is False
    assert readiness.get("nobody") is None
    assert readiness.get("acme").ready_override is None


def test_overrides_are_per_tenant(readiness, add_tenant):
    add_tenant("acme")
    add_tenant("beta")
    readiness.set_override("acme", False)
    assert readiness.get("acme").ready_override is False
    assert readiness.get("beta").ready_override is None


def test_first_observation_is_not_a_transition(readiness, add_tenant):
    add_tenant("acme")
    assert readiness.record_status("acme", None, "ready") is True
    row = readiness.get("acme")
    assert (row.status, row.transitions) == ("ready", 0)


def test_record_status_counts_each_change(readiness, add_tenant):
    add_tenant("acme")
    readiness.record_status("acme", None, "ready")
    assert readiness.record_status("acme", "ready", "not ready") is True
    assert readiness.record_status("acme", "not ready", "error") is True
    row = readiness.get("acme")
    assert (row.status, row.transitions) == ("error", 2)


def test_record_status_with_a_stale_seen_value_writes_nothing(readiness, add_tenant):
    add_tenant("acme")
    readiness.record_status("acme", None, "ready")
    readiness.record_status("acme", "ready", "not ready")
    assert readiness.record_status("acme", "ready", "error") is False
    assert readiness.record_status("acme", None, "error") is False
    row = readiness.get("acme")
    assert (row.status, row.transitions) == ("not ready", 1)


def test_record_status_compares_the_transition_count_against_aba(readiness, add_tenant):
    add_tenant("acme")
    readiness.record_status("acme", None, "ready")
    stale = readiness.get("acme")                       # ("ready", 0)
    readiness.record_status("acme", "ready", "not ready")
    readiness.record_status("acme", "not ready", "ready")
    # Status is "ready" again, but the pair ("ready", 0) is gone: no stale overwrite.
    assert readiness.record_status("acme", stale.status, "error", stale.transitions) is False
    row = readiness.get("acme")
    assert (row.status, row.transitions) == ("ready", 2)
    assert readiness.record_status("acme", "ready", "error", 2) is True
    assert readiness.get("acme").transitions == 3


def test_record_status_of_an_unknown_tenant_is_refused(readiness):
    assert readiness.record_status("nobody", None, "ready") is False


@pytest.mark.parametrize("with_count", [False, True], ids=["status", "status+count"])
def test_a_transition_seen_by_8_threads_at_once_is_counted_once(readiness, add_tenant,
                                                                with_count):
    add_tenant("acme")
    readiness.record_status("acme", None, "ready")
    threads = 8
    barrier = threading.Barrier(threads)

    def observe(_) -> bool:
        barrier.wait(timeout=30)
        return readiness.record_status("acme", "ready", "not ready",
                                       0 if with_count else None)

    with ThreadPoolExecutor(threads) as pool:
        won = list(pool.map(observe, range(threads), timeout=60))
    assert won.count(True) == 1, won
    row = readiness.get("acme")
    assert (row.status, row.transitions) == ("not ready", 1)


def test_first_lists_the_oldest_tenants_first(store, readiness, add_tenant):
    ticks = iter(f"2030-01-0{day}T00:00:00.000Z" for day in range(1, 10))
    store.tenants._now = lambda: next(ticks)
    for tenant in ("gamma", "acme", "beta"):
        add_tenant(tenant)
    assert [r.tenant_id for r in readiness.first(2)] == ["gamma", "acme"]
    assert [r.tenant_id for r in readiness.first(10)] == ["gamma", "acme", "beta"]


def test_disabled_tenant_and_health_are_visible(store, readiness, add_tenant):
    add_tenant("acme", enabled=False)
    store.health.set("acme", "unverified", "slow disk")
    row = readiness.get("acme")
    assert (row.enabled, row.health) == (False, "unverified")


def test_durations_add_per_bucket_counts_and_a_running_sum(readiness, add_tenant):
    add_tenant("acme")
    add_tenant("beta")
    for bucket, seconds in [(0, 0.001), (0, 0.002), (3, 0.1), (3, 0.2), (3, 0.3)]:
        readiness.observe_duration("acme", bucket, seconds)
    readiness.observe_duration("beta", 7, 12.5)
    found = readiness.durations(["acme", "beta", "nobody"])
    assert set(found) == {"acme", "beta"}
    assert found["acme"][0] == 2 and found["acme"][3] == 3
    # The sum is kept as a double on every backend (a 4-byte float would drift).
    assert found["acme"][-1] == pytest.approx(0.603, rel=1e-12, abs=0)
    assert found["beta"] == {7: 1, -1: 12.5}
    assert readiness.durations(["beta"]) == {"beta": found["beta"]}
    assert readiness.durations([]) == {}


def test_durations_of_an_unknown_or_purged_tenant_are_not_kept(store, readiness, add_tenant):
    readiness.observe_duration("nobody", 0, 0.5)
    assert readiness.durations(["nobody"]) == {}
    add_tenant("acme")
    readiness.observe_duration("acme", 0, 0.5)
    store.tenants.purge("acme")
    readiness.observe_duration("acme", 0, 0.5)  # a late observer: its series must not return
    assert readiness.durations(["acme"]) == {}


def test_concurrent_duration_observations_are_all_counted(readiness, add_tenant):
    add_tenant("acme")
    threads, each = 8, 10
    barrier = threading.Barrier(threads)

    def observe(_) -> None:
        barrier.wait(timeout=30)
        for _ in range(each):
            readiness.observe_duration("acme", 1, 0.5)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(observe, range(threads), timeout=60))
    assert readiness.durations(["acme"]) == {"acme": {1: threads * each,
                                                      -1: threads * each * 0.5}}


def test_override_records_the_statuses_observed_with_it_in_one_write(readiness, add_tenant):
    add_tenant("acme")
    row = readiness.get("acme")
    # The first observation is no transition; the change it leads to is one.
    assert readiness.override(row, False, ("ready", "not ready")) is True
    assert readiness.get("acme") == ReadinessRow("acme", True, False, "pending", "not ready", 1)
    row = readiness.get("acme")
    assert readiness.override(row, False, ("not ready", "not ready")) is False
    assert readiness.override(row, None, ("not ready", "ready")) is True
    assert readiness.get("acme") == ReadinessRow("acme", True, None, "pending", "ready", 2)


def test_override_with_nothing_to_write_writes_nothing(readiness, add_tenant):
    add_tenant("acme")
    row = readiness.get("acme")
    assert readiness.writes(row, None, ()) is False
    assert readiness.override(row, None, ()) is False
    assert readiness.writes(row, None, ("ready",)) is True
    assert readiness.writes(row, True, ()) is True
    assert readiness.get("acme") == row


def test_override_over_a_row_changed_since_it_was_read_writes_nothing(readiness, add_tenant):
    add_tenant("acme")
    stale = readiness.get("acme")
    assert readiness.record_status("acme", None, "ready") is True
    assert readiness.override(stale, True, ("ready",)) is None
    assert readiness.get("acme") == ReadinessRow("acme", True, None, "pending", "ready", 0)
    fresh = readiness.get("acme")
    assert readiness.set_override("acme", False) is True  # another writer's override
    assert readiness.override(fresh, True, ("ready",)) is None
    assert readiness.get("acme").ready_override is False

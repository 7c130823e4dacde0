"""RecheckStore on both backends: one claimant per due recheck, the schedule and backoff."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from app.store import Store
from app.store.rechecks import RecheckStore

T0 = 1_800_000_000.0  # seconds since the epoch: far from zero, as real clocks are


@pytest.fixture
def rechecks(store) -> RecheckStore:
    return store.rechecks


def due_at(store: Store, tenant: str):
    with store.db.read() as conn:
        return conn.execute("SELECT recheck_due_at, recheck_failures FROM tenants "
                            "WHERE tenant_id = ?", (tenant,)).fetchone()


def test_a_tenant_never_scheduled_is_scheduled_not_run(store, rechecks, add_tenant):
    add_tenant("acme")
    assert rechecks.due(["acme", "nobody"], T0) == ["acme"]
    assert rechecks.claim("acme", T0, 60) is False  # validated when it was built
    assert tuple(due_at(store, "acme")) == (T0 + 60, 0)
    assert rechecks.due(["acme"], T0 + 59.9) == []
    assert rechecks.due(["acme"], T0 + 60) == ["acme"]


def test_the_schedule_keeps_to_the_interval_however_late_the_claim(
        store, rechecks, add_tenant):
    add_tenant("acme")
    rechecks.claim("acme", T0, 10)
    assert rechecks.claim("acme", T0 + 13, 10) is True  # claimed 3 s late
    assert due_at(store, "acme")[0] == T0 + 20  # not T0 + 23: no drift
    assert rechecks.claim("acme", T0 + 45, 10) is True  # missed several intervals
    assert due_at(store, "acme")[0] == T0 + 55


def test_a_due_recheck_has_one_claimant_among_many(store, rechecks, add_tenant):
    add_tenant("acme")
    rechecks.claim("acme", T0, 1)
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda _: rechecks.claim("acme", T0 + 1.5, 1), range(16)))
    assert claims.count(True) == 1


def test_failures_back_off_doubling_up_to_the_maximum(store, rechecks, add_tenant):
    add_tenant("acme")
    delays = [rechecks.record("acme", False, T0, 10, 75) for _ in range(5)]
    assert delays == [20, 40, 75, 75, 75]
    assert tuple(due_at(store, "acme")) == (T0 + 75, 5)
    assert rechecks.record("acme", True, T0 + 100, 10, 75) is None
    assert due_at(store, "acme")[1] == 0  # the backoff ends with a success
    assert rechecks.record("acme", False, T0 + 200, 10, 75) == 20


def test_unknown_tenants_are_neither_claimed_nor_recorded(rechecks):
    assert rechecks.claim("nobody", T0, 10) is False
    assert rechecks.record("nobody", False, T0, 10, 60) is None
    assert rechecks.due([], T0) == []


def test_a_purged_tenant_leaves_no_schedule(store, rechecks, add_tenant):
    add_tenant("acme")
    rechecks.claim("acme", T0, 10)
    store.tenants.purge("acme")
    add_tenant("acme")
    assert rechecks.due(["acme"], T0) == ["acme"]  # a new tenant: scheduled afresh


def test_due_finds_tenants_in_every_chunk_of_a_long_list(rechecks, add_tenant):
    for tenant in ("t0", "t511", "t512", "t700"):
        add_tenant(tenant)
    asked = [f"t{i}" for i in range(701)]
    assert sorted(rechecks.due(asked, T0)) == ["t0", "t511", "t512", "t700"]

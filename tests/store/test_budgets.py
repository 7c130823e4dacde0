"""Budget reservations and spend in the store, on both backends (app/store/budgets.py)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

DAY, NEXT_DAY = "2026-03-04", "2026-03-05"
T0 = 1_772_625_600_000  # 2026-03-04 12:00 UTC in milliseconds
LEASE = 30_000


@pytest.fixture
def budgets(store, add_tenant):
    add_tenant("acme", daily_cap_micros=1_000_000)
    add_tenant("free")
    return store.budgets


def reserve(budgets, rid, estimate, now=T0, day=DAY, tenant="acme", lease=LEASE):
    return budgets.reserve(tenant, rid, day, estimate, now, now + lease)


def state(budgets, now=T0, day=DAY, tenant="acme"):
    return budgets.states([tenant], day, now)[tenant]


def test_reservations_and_settles_never_pass_the_cap(budgets):
    assert reserve(budgets, "r1", 600_000).admitted
    refused = reserve(budgets, "r2", 400_001)
    assert (refused.admitted, refused.remaining_micros) == (False, 400_000)
    assert reserve(budgets, "r2", 400_000).admitted
    assert budgets.settle("acme", "r1", DAY, 100_000, T0)
    assert state(budgets).remaining_micros == 500_000
    assert (state(budgets).day_micros, state(budgets).held_micros) == (100_000, 400_000)


def test_an_uncapped_tenant_reserves_nothing_and_its_settles_still_count(budgets):
    admission = reserve(budgets, "r1", 10 ** 12, tenant="free")
    assert (admission.admitted, admission.cap_micros) == (True, None)
    assert budgets.settle("free", "r1", DAY, 10 ** 12, T0)
    assert not budgets.settle("free", "r1", DAY, 10 ** 12, T0)
    assert state(budgets, tenant="free").total_micros == 10 ** 12  # BIGINT on PostgreSQL


def test_a_release_gives_the_room_back_and_a_settled_one_stays_settled(budgets):
    assert reserve(budgets, "r1", 1_000_000).admitted
    budgets.release("acme", "r1")
    assert state(budgets).remaining_micros == 1_000_000
    assert reserve(budgets, "r2", 1_000_000).admitted
    assert budgets.settle("acme", "r2", DAY, 1_000_000, T0)
    budgets.release("acme", "r2")
    assert state(budgets).remaining_micros == 0


def test_a_lapsed_lease_frees_the_room_and_its_late_settle_counts_once(budgets):
    assert reserve(budgets, "dead", 1_000_000, lease=1_000).admitted
    assert not reserve(budgets, "r2", 1, now=T0 + 999).admitted
    later = T0 + 1_000
    assert state(budgets, now=later).remaining_micros == 1_000_000
    assert budgets.renew([("acme", "dead")], later, later + LEASE) == {("acme", "dead"): True}
    assert state(budgets, now=later).held_micros == 0  # a lapsed lease is never revived
    assert reserve(budgets, "r2", 500_000, now=later).admitted
    assert budgets.settle("acme", "dead", DAY, 1_000_000, later + 5)
    assert not budgets.settle("acme", "dead", DAY, 1_000_000, later + 6)
    after = state(budgets, now=later + 7)
    assert (after.day_micros, after.held_micros, after.total_micros) == \
        (1_000_000, 500_000, 1_000_000)
    assert after.remaining_micros == 0


def test_renew_keeps_a_live_lease(budgets):
    assert reserve(budgets, "r1", 1_000_000, lease=1_000).admitted
    assert budgets.renew([("acme", "r1")], T0 + 500, T0 + 5_000) == {}
    assert state(budgets, now=T0 + 4_999).remaining_micros == 0


def test_renew_tells_a_lapsed_lease_from_one_settled_or_released_meanwhile(budgets):
    for rid in ("settled", "released", "lapsed"):
        assert reserve(budgets, rid, 100_000, lease=1_000).admitted
    assert budgets.settle("acme", "settled", DAY, 100_000, T0)
    budgets.release("acme", "released")
    keys = [("acme", rid) for rid in ("settled", "released", "lapsed")]
    assert budgets.renew(keys, T0 + 1_000, T0 + 5_000) == {
        ("acme", "settled"): False, ("acme", "released"): False, ("acme", "lapsed"): True}


def test_a_new_day_counts_from_zero_and_a_late_settle_of_yesterday_adds_to_the_total(budgets):
    assert reserve(budgets, "old", 400_000).admitted
    assert reserve(budgets, "r1", 600_000).admitted
    assert budgets.settle("acme", "r1", DAY, 600_000, T0)
    tomorrow = T0 + 86_400_000
    assert state(budgets, now=tomorrow, day=NEXT_DAY).remaining_micros == 1_000_000
    assert reserve(budgets, "r2", 1_000_000, now=tomorrow, day=NEXT_DAY).admitted
    assert budgets.settle("acme", "r2", NEXT_DAY, 300_000, tomorrow)
    assert budgets.settle("acme", "old", DAY, 400_000, tomorrow)
    after = state(budgets, now=tomorrow, day=NEXT_DAY)
    assert (after.day_micros, after.total_micros) == (300_000, 1_300_000)


def test_concurrent_reservations_from_threads_are_exact(budgets):
    barrier = threading.Barrier(10)

    def one(index):
        barrier.wait(timeout=30)
        return reserve(budgets, f"r{index}", 300_000).admitted

    with ThreadPoolExecutor(10) as pool:
        admitted = list(pool.map(one, range(10)))
    assert admitted.count(True) == 3
    assert state(budgets).held_micros == 900_000


def test_counts_for_a_tenant_that_is_gone_are_dropped(budgets, store):
    budgets.add_counts({("acme", "daily"): 2, ("gone", "daily"): 5},
                       {("acme", "main", "other", "settled"): 3,
                        ("gone", "main", "other", "settled"): 1})
    budgets.add_counts({("acme", "daily"): 1}, {})
    assert budgets.rejections() == {("acme", "daily"): 3}
    assert budgets.model_requests() == {("acme", "main", "other", "settled"): 3}
    assert store.tenants.purge("acme")
    assert budgets.rejections() == {} and budgets.model_requests() == {}

"""LimitStore on both backends: refusal counts, only for tenants that exist."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.store.limits import LimitStore


@pytest.fixture
def limits(store) -> LimitStore:
    return store.limits


def test_no_rejections_at_first(limits):
    assert limits.rejections() == {}
    limits.add_rejections({})
    assert limits.rejections() == {}


def test_rejections_add_up_per_tenant_limit_and_scope(limits, add_tenant):
    add_tenant("acme")
    add_tenant("beta")
    limits.add_rejections({("acme", "llm_student", "tenant"): 3,
                           ("acme", "llm_student", "global"): 1,
                           ("beta", "ocr", "tenant"): 2})
    limits.add_rejections({("acme", "llm_student", "tenant"): 4})
    assert limits.rejections() == {("acme", "llm_student", "tenant"): 7,
                                   ("acme", "llm_student", "global"): 1,
                                   ("beta", "ocr", "tenant"): 2}


def test_rejections_are_added_only_for_existing_tenants(limits, add_tenant):
    add_tenant("acme")
    limits.add_rejections({("acme", "ocr", "tenant"): 1, ("ghost", "ocr", "tenant"): 5})
    assert limits.rejections() == {("acme", "ocr", "tenant"): 1}
    limits.add_rejections({("ghost", "ocr", "tenant"): 5})
    assert limits.rejections() == {("acme", "ocr", "tenant"): 1}


def test_unknown_scope_is_refused_by_the_store(limits, add_tenant):
    add_tenant("acme")
    with pytest.raises(Exception, match="(?i)check"):
        limits.add_rejections({("acme", "ocr", "fleet"): 1})
    assert limits.rejections() == {}


def test_purge_removes_a_tenants_rejections(store, limits, add_tenant):
    add_tenant("acme")
    add_tenant("beta")
    limits.add_rejections({("acme", "ocr", "tenant"): 2, ("beta", "ocr", "tenant"): 1})
    assert store.tenants.purge("acme") is True
    assert limits.rejections() == {("beta", "ocr", "tenant"): 1}
    # A late batch from a worker that had not heard of the purge brings nothing back.
    limits.add_rejections({("acme", "ocr", "tenant"): 9})
    assert limits.rejections() == {("beta", "ocr", "tenant"): 1}
    # Created again, the tenant starts from zero.
    add_tenant("acme")
    limits.add_rejections({("acme", "ocr", "tenant"): 1})
    assert limits.rejections()[("acme", "ocr", "tenant")] == 1


def test_disable_keeps_the_counts(store, limits, add_tenant):
    add_tenant("acme")
    limits.add_rejections({("acme", "ocr", "tenant"): 2})
    store.tenants.disable("acme")
    assert limits.rejections() == {("acme", "ocr", "tenant"): 2}


def test_concurrent_batches_are_all_counted(limits, add_tenant):
    add_tenant("acme")
    threads, batches = 8, 10
    barrier = threading.Barrier(threads)

    def flush(_) -> None:
        barrier.wait(timeout=30)
        for _ in range(batches):
            limits.add_rejections({("acme", "llm_student", "tenant"): 1,
                                   ("acme", "llm_total", "global"): 2})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(flush, range(threads), timeout=60))
    assert limits.rejections() == {("acme", "llm_student", "tenant"): threads * batches,
                                   ("acme", "llm_total", "global"): 2 * threads * batches}


def test_counts_go_past_32_bits_on_every_backend(limits, add_tenant):
    # SQLite integers are 64-bit; a 32-bit PostgreSQL column would overflow under a long flood.
    add_tenant("acme")
    key = ("acme", "ocr", "tenant")
    limits.add_rejections({key: 2**31 - 1})
    limits.add_rejections({key: 2**31 - 1})
    limits.add_rejections({key: 2})
    assert limits.rejections() == {key: 2**32}

"""TenantStore: records, the atomic label cap, host and directory ownership, config_version.

Every test runs on both backends (``db`` in tests/store/conftest.py: SQLite and
PostgreSQL); the few that look at one backend's specifics say so in their name.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.store import DirectoryTaken, HostTaken, LabelCapReached, TenantRecord, TenantStore
from app.store.tenants import bump_version

from .conftest import tables_with_column

CAP = 3


@pytest.fixture
def tenants(store):
    return store.tenants


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "tenants"


@pytest.fixture
def record(root):
    def make(tenant_id, **fields):
        values = {"data_dir": str(root / tenant_id / "data"),
                  "uploads_dir": str(root / tenant_id / "uploads"), "enabled": True}
        values.update(fields)
        return TenantRecord(tenant_id=tenant_id, **values)
    return make


def test_empty_store(tenants):
    assert tenants.list() == [] and tenants.count() == 0
    assert tenants.get("acme") is None
    assert tenants.tenant_for_host("acme.example") is None
    assert tenants.label_rejections() == 0


def test_upsert_creates_then_replaces(tenants, record):
    stored, created = tenants.upsert(record("acme", hosts=["acme.example"], limits={"ocr": 2},
                                            extra={"plan": "gold"}), CAP)
    assert created is True
    assert (stored.tenant_id, stored.hosts, stored.limits, stored.extra) == \
        ("acme", ["acme.example"], {"ocr": 2}, {"plan": "gold"})
    assert stored.created_at and stored.updated_at == stored.created_at
    assert tenants.get("acme") == stored
    replaced, created = tenants.upsert(record("acme", enabled=False), CAP)
    assert created is False
    assert replaced.enabled is False
    assert (replaced.hosts, replaced.limits, replaced.extra) == ([], {}, {})
    assert replaced.created_at == stored.created_at
    assert tenants.tenant_for_host("acme.example") is None
    assert tenants.count() == 1


def test_list_is_sorted_by_id(tenants, record):
    for tenant in ("gamma", "acme", "beta"):
        tenants.upsert(record(tenant), CAP)
    assert [r.tenant_id for r in tenants.list()] == ["acme", "beta", "gamma"]
    assert tenants.count() == 3


def test_timestamps_come_from_the_clock(tenants, record):
    ticks = iter(["2030-01-01T00:00:00.000Z", "2030-01-02T00:00:00.000Z",
                  "2030-01-03T00:00:00.000Z"])
    tenants._now = lambda: next(ticks)
    first, _ = tenants.upsert(record("acme"), CAP)
    second, _ = tenants.upsert(record("acme", hosts=["a.example"]), CAP)
    third = tenants.disable("acme")
    assert (first.created_at, first.updated_at) == ("2030-01-01T00:00:00.000Z",) * 2
    assert (second.created_at, second.updated_at) == \
        ("2030-01-01T00:00:00.000Z", "2030-01-02T00:00:00.000Z")
    assert (third.created_at, third.updated_at) == \
        ("2030-01-01T00:00:00.000Z", "2030-01-03T00:00:00.000Z")


def test_disable_keeps_the_record_and_its_label(tenants, record):
    tenants.upsert(record("acme", hosts=["acme.example"]), CAP)
    disabled = tenants.disable("acme")
    assert disabled.enabled is False and disabled.hosts == ["acme.example"]
    assert tenants.count() == 1
    assert tenants.tenant_for_host("acme.example") == "acme"
    assert tenants.disable("nobody") is None


def test_purge_removes_the_record_and_cascades(store, tenants, record):
    tenants.upsert(record("acme", hosts=["acme.example", "www.acme.example"]), CAP)
    tenants.upsert(record("beta", hosts=["beta.example"]), CAP)
    store.tenant_readiness.observe_duration("acme", 0, 0.25)
    store.limits.add_rejections({("acme", "ocr", "tenant"): 2})
    assert tenants.purge("acme") is True
    assert tenants.get("acme") is None
    assert tenants.tenant_for_host("acme.example") is None
    tables = tables_with_column(store.db, "tenant_id")
    assert {"tenants", "tenant_hosts", "tenant_readiness_durations",
            "limit_rejections"} <= set(tables)
    with store.db.read() as conn:
        assert [tuple(r) for r in conn.execute("SELECT host, tenant_id FROM tenant_hosts")] \
            == [("beta.example", "beta")]
        # Every table keyed on a tenant forgets it.
        for table in tables:
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE tenant_id = 'acme'"
                                ).fetchone()[0] == 0, table
    assert tenants.purge("acme") is False
    assert tenants.count() == 1


def test_upsert_enforces_the_cap_on_new_tenants_only(tenants, record):
    for i in range(CAP):
        assert tenants.upsert(record(f"t{i}"), CAP)[1] is True
    with pytest.raises(LabelCapReached) as refused:
        tenants.upsert(record("one-more"), CAP)
    assert refused.value.limit == CAP
    assert tenants.get("one-more") is None and tenants.count() == CAP
    assert tenants.upsert(record("t0", enabled=False), CAP)[1] is False
    tenants.purge("t1")
    assert tenants.upsert(record("one-more"), CAP)[1] is True


def test_ensure_registers_once_and_leaves_existing_tenants_alone(tenants, record):
    stored, created = tenants.ensure(record("acme"), CAP)
    assert created is True and stored.enabled is True
    assert (stored.hosts, stored.limits, stored.extra) == ([], {}, {})
    tenants.upsert(record("acme", enabled=False, hosts=["acme.example"]), CAP)
    again, created = tenants.ensure(record("acme"), CAP)
    assert created is False
    assert again.enabled is False and again.hosts == ["acme.example"]
    assert tenants.count() == 1


def test_ensure_enforces_the_cap(tenants, record):
    for i in range(CAP):
        tenants.ensure(record(f"t{i}"), CAP)
    with pytest.raises(LabelCapReached):
        tenants.ensure(record("one-more"), CAP)
    assert tenants.get("one-more") is None
    # An existing tenant at the cap is no new label.
    assert tenants.ensure(record("t2"), CAP)[1] is False


def test_ensure_refuses_a_directory_inside_another_tenants(tenants, record, root):
    tenants.upsert(record("acme", data_dir=str(root / "beta" / "data")), CAP)
    with pytest.raises(DirectoryTaken) as refused:
        tenants.ensure(record("beta"), CAP)
    assert (refused.value.field, refused.value.tenant_id) == ("data_dir", "acme")
    assert tenants.get("beta") is None


def test_host_belongs_to_one_tenant(tenants, record):
    tenants.upsert(record("acme", hosts=["shop.example"]), CAP)
    with pytest.raises(HostTaken) as refused:
        tenants.upsert(record("beta", hosts=["shop.example"]), CAP)
    assert (refused.value.host, refused.value.tenant_id) == ("shop.example", "acme")
    assert tenants.get("beta") is None
    assert tenants.tenant_for_host("shop.example") == "acme"


@pytest.mark.parametrize("field,relative", [
    ("data_dir", "acme/data"), ("data_dir", "acme/data/inner"), ("uploads_dir", "acme"),
    ("uploads_dir", "acme/uploads/x")])
def test_directories_may_not_overlap_another_tenants(tenants, record, root, field, relative):
    tenants.upsert(record("acme"), CAP)
    with pytest.raises(DirectoryTaken) as refused:
        tenants.upsert(record("beta", **{field: str(root / relative)}), CAP)
    assert (refused.value.field, refused.value.tenant_id) == (field, "acme")
    assert tenants.get("beta") is None


def test_sibling_directory_sharing_a_prefix_is_not_an_overlap(tenants, record, root):
    tenants.upsert(record("acme"), CAP)
    stored, _ = tenants.upsert(record("acme2", data_dir=str(root / "acme" / "data2")), CAP)
    assert stored.data_dir == str(root / "acme" / "data2")


def test_config_version_rises_on_every_write_and_not_on_reads(store, tenants, record):
    version = store.version()

    def bumped() -> bool:
        nonlocal version
        now = store.version()
        changed, version = now > version, now
        return changed

    writes = [lambda: tenants.upsert(record("acme"), CAP),
              lambda: tenants.upsert(record("acme", hosts=["a.example"]), CAP),
              lambda: tenants.ensure(record("beta"), CAP),
              lambda: tenants.disable("acme"),
              lambda: tenants.purge("beta")]
    for write in writes:
        write()
        assert bumped()
    reads = [tenants.list, tenants.count, lambda: tenants.get("acme"),
             lambda: tenants.tenant_for_host("a.example"), tenants.label_rejections,
             lambda: tenants.ensure(record("acme"), CAP), store.ping]
    for read in reads:
        read()
        assert not bumped()


def test_refused_writes_leave_config_version_alone(store, tenants, record):
    tenants.upsert(record("acme", hosts=["shop.example"]), CAP)
    version = store.version()
    with pytest.raises(HostTaken):
        tenants.upsert(record("beta", hosts=["shop.example"]), CAP)
    with pytest.raises(DirectoryTaken):
        tenants.upsert(record("beta", data_dir=record("acme").data_dir), CAP)
    assert tenants.disable("nobody") is None
    assert tenants.purge("nobody") is False
    assert store.version() == version


def test_label_rejections_are_counted(tenants):
    for expected in (1, 2, 3):
        tenants.record_label_rejection()
        assert tenants.label_rejections() == expected


def test_list_order_is_the_same_on_every_backend(tenants, record):
    # Byte order, as SQLite sorts: a PostgreSQL collation that ignored punctuation
    # would put "ab" before "a-z" and make the backends disagree.
    ids = ["ab", "a-z", "a0", "a-b", "b", "a"]
    for tenant in ids:
        tenants.upsert(record(tenant), len(ids))
    assert [r.tenant_id for r in tenants.list()] == sorted(ids)


def test_first_is_the_oldest_tenants(tenants, record):
    ticks = iter(f"2030-01-0{day}T00:00:00.000Z" for day in range(1, 10))
    tenants._now = lambda: next(ticks)
    for tenant in ("gamma", "acme", "beta"):
        tenants.upsert(record(tenant), CAP)
    assert [r.tenant_id for r in tenants.first(2)] == ["gamma", "acme"]
    assert [r.tenant_id for r in tenants.first(10)] == ["gamma", "acme", "beta"]


@pytest.mark.parametrize("operation", ["upsert", "ensure"])
def test_the_cap_is_exact_under_concurrent_creation(db, record, operation):
    # Each thread its own TenantStore on the shared database, as each worker has.
    threads, tenants = 8, TenantStore(db)
    barrier = threading.Barrier(threads)

    def create(i: int) -> str:
        barrier.wait(timeout=30)
        try:
            getattr(tenants, operation)(record(f"t{i}"), CAP)
        except LabelCapReached:
            return "refused"
        return "created"

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(create, range(threads), timeout=60))
    assert sorted(outcomes) == ["created"] * CAP + ["refused"] * (threads - CAP)
    assert tenants.count() == CAP


def test_store_counters_go_past_32_bits_on_every_backend(store, tenants):
    with store.db.write() as conn:
        conn.execute("UPDATE store_meta SET value = ? WHERE key = 'label_rejections'",
                     (2**31 - 1,))
        conn.execute("UPDATE store_meta SET value = ? WHERE key = 'config_version'",
                     (2**31 - 1,))
    tenants.record_label_rejection()
    tenants.purge("nobody")  # no bump: nothing changed
    tenants.disable("nobody")
    assert tenants.label_rejections() == 2**31
    with store.db.write() as conn:
        bump_version(conn)
    assert store.version() == 2**31


def test_literal_percent_and_like_patterns_work_on_every_backend(store, tenants, record):
    # The store writes SQLite's "?" placeholders; a literal "%" must survive the translation.
    tenants.upsert(record("acme", extra={"note": "100% done"}), CAP)
    tenants.upsert(record("beta"), CAP)
    with store.db.read() as conn:
        rows = conn.execute("SELECT tenant_id FROM tenants WHERE tenant_id LIKE 'ac%' "
                            "AND extra_json LIKE ?", ("%100% done%",)).fetchall()
        rows_no_params = conn.execute("SELECT tenant_id FROM tenants "
                                      "WHERE tenant_id LIKE 'b%'").fetchall()
    assert [r[0] for r in rows] == ["acme"]
    assert [r[0] for r in rows_no_params] == ["beta"]
    assert tenants.get("acme").extra == {"note": "100% done"}


@pytest.mark.parametrize("count", [1, 3, 513])
def test_states_answers_for_each_stored_id_asked_for(tenants, record, count):
    stored = [f"t{i}" for i in range(0, count, 2)]
    for tenant in stored:
        tenants.upsert(record(tenant), count)
    asked = [f"t{i}" for i in range(count)] + ["nobody"]
    states = tenants.states(asked)
    assert sorted(states) == sorted(stored)
    assert all(state.enabled and state.health == "pending" for state in states.values())

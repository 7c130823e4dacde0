"""Job leases in the store, on both backends: a claim is one job for one holder, an expired
lease is taken over, and a holder whose lease was taken over records nothing."""
from __future__ import annotations

import shutil
import threading

import pytest

from app.store import TenantMissing
from app.store.job_leases import LEASE_LOST
from app.store.migrations import MIGRATIONS_DIR, migrate
from tests.store.conftest import open_database

LEASE = 30.0
NOW = 1_000_000.0


def submit(store, tenant: str, job_id: str, kind: str = "work", now: float = NOW) -> None:
    store.jobs.submit(job_id, tenant, "main", kind, '{"n": 1}', now)


def claim(store, owner: str = "w1", now: float = NOW, max_attempts: int = 5):
    return store.job_leases.claim(["work"], owner, now, LEASE, max_attempts)


def test_a_job_for_a_tenant_the_store_does_not_have_is_refused(store):
    with pytest.raises(TenantMissing):
        submit(store, "ghost", "j1")
    assert store.jobs.get("ghost", "j1") is None


def test_concurrent_claims_hand_each_job_to_one_holder(store, add_tenant):
    add_tenant("acme")
    for index in range(20):
        submit(store, "acme", f"j{index:02d}")
    claimed: list[str] = []
    lock = threading.Lock()

    def claim_all(owner: str) -> None:
        while (got := claim(store, owner)) is not None:
            with lock:
                claimed.append(got.job_id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == [f"j{index:02d}" for index in range(20)]


def test_an_expired_lease_is_taken_over_and_the_old_holder_records_nothing(store,
                                                                           add_tenant):
    add_tenant("acme")
    submit(store, "acme", "j1")
    first = claim(store, "dead-worker")
    assert (first.job_id, first.attempts) == ("j1", 1)
    assert claim(store, "w2", now=NOW + LEASE - 1) is None  # still leased
    second = claim(store, "w2", now=NOW + LEASE + 1)
    assert (second.job_id, second.attempts) == ("j1", 2)
    assert store.job_leases.finish(first, {"by": "dead"}, NOW + LEASE + 2) is False
    assert store.job_leases.renew([first.token], NOW + 100 * LEASE) == 0
    assert store.job_leases.finish(second, {"by": "w2"}, NOW + LEASE + 3) is True
    job = store.jobs.get("acme", "j1")
    assert (job.state, job.attempts, job.result) == ("done", 2, {"by": "w2"})


def test_a_job_whose_holder_died_every_time_is_failed(store, add_tenant):
    add_tenant("acme")
    submit(store, "acme", "j1")
    for attempt in range(2):
        assert claim(store, now=NOW + attempt * (LEASE + 1), max_attempts=2) is not None
    assert claim(store, now=NOW + 3 * (LEASE + 1), max_attempts=2) is None
    job = store.jobs.get("acme", "j1")
    assert (job.state, job.attempts, job.error) == ("failed", 2, LEASE_LOST)
    assert store.jobs.failed_totals(["acme"]) == {"acme": 1}


def test_claims_go_round_robin_between_tenants(store, add_tenant):
    for tenant in ("a", "b", "c"):
        add_tenant(tenant)
    for index in range(3):
        submit(store, "a", f"a{index}", now=NOW + index)
    submit(store, "b", "b0", now=NOW + 10)
    submit(store, "c", "c0", now=NOW + 20)
    order = []
    for step in range(5):
        got = claim(store, now=NOW + 100 + step)
        order.append(got.job_id)
    assert order == ["a0", "b0", "c0", "a1", "a2"]


def test_a_refused_admission_leaves_the_job_untouched_and_serves_the_next_tenant(
        store, add_tenant):
    for tenant in ("full", "free"):
        add_tenant(tenant)
    submit(store, "full", "f1", now=NOW)
    submit(store, "free", "g1", now=NOW + 1)
    admitted = store.job_leases.claim(
        ["work"], "w1", NOW + 5, LEASE, 5,
        admit=lambda tenant, kind, job_id: None if tenant == "full" else "permit")
    assert (admitted.job_id, admitted.permit) == ("g1", "permit")
    job = store.jobs.get("full", "f1")
    assert (job.state, job.attempts) == ("queued", 0)


def test_a_disabled_tenants_jobs_are_not_claimed(store, add_tenant):
    add_tenant("acme", enabled=False)
    submit(store, "acme", "j1")
    assert claim(store) is None
    add_tenant("acme", enabled=True)
    assert claim(store).job_id == "j1"


def test_uploads_acknowledged_before_jobs_existed_become_upload_jobs(
        backend, request, tmp_path):
    before, after = tmp_path / "0006", tmp_path / "0007"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("000[1-6]_*.sql"):
        shutil.copy(path, before / path.name)
    db = open_database(backend, request, tmp_path)
    try:
        migrate(db, before)
        with db.write() as conn:
            conn.execute("INSERT INTO tenants (tenant_id, data_dir, uploads_dir, enabled, "
                         "created_at, updated_at) VALUES ('acme', '/d', '/u', 1, 'x', 'x')")
            for upload_id, state, sha in (("u1", "queued", None), ("u2", "processing", None),
                                          ("u3", "done", "ab12"), ("u4", "receiving", None)):
                conn.execute("INSERT INTO uploads (tenant_id, upload_id, filename, size, "
                             "state, sha256, error, created_at, updated_at) VALUES "
                             "('acme', ?, 'f', 1, ?, ?, NULL, 'x', 'x')",
                             (upload_id, state, sha))
        shutil.copytree(before, after)
        for path in MIGRATIONS_DIR.glob("0007_*.sql"):
            shutil.copy(path, after / path.name)
        migrate(db, after)
        from app.store import Store

        jobs = Store(db).jobs
        found = {u: jobs.get("acme", u) for u in ("u1", "u2", "u3", "u4")}
        assert found["u4"] is None  # never acknowledged: not a job
        assert [(found[u].kind, found[u].state, found[u].attempts) for u in ("u1", "u2")] \
            == [("upload", "queued", 0), ("upload", "queued", 0)]
        assert found["u1"].payload == {"upload_id": "u1"}
        assert (found["u3"].state, found["u3"].result) == ("done", {"sha256": "ab12"})
    finally:
        db.close()

"""Fairness between tenants (contract sec. 13), on both store backends: round-robin, and a
tenant whose limit is full holds up nobody else."""
from __future__ import annotations

from app.jobs import submit_tenant_job
from app.runtime import TenantContext, use_tenant
from app.services import services_of
from tests.jobs.conftest import put, status, submit
from tests.limits.test_limits_http import Held
from tests.support.metrics_text import value
from tests.support.polling import poll

BACKLOG = 1000
TIMEOUT = 60.0


def test_a_thousand_queued_jobs_delay_another_tenants_first_job_by_one_per_thread(
        app, client, handlers):
    for tenant in ("busy", "quiet"):
        assert put(client, tenant).status_code == 201
    store = services_of(app).store
    with app.app_context(), use_tenant(TenantContext("busy")), store.db.write():
        for index in range(BACKLOG):  # one transaction: all queued before any runs
            submit_tenant_job("record", {"name": f"busy-{index}"})
    poll(handlers.names, lambda names: len(names) >= 10, TIMEOUT)
    job_id = submit(client, "quiet", "first")
    started_before = len(handlers.names())  # tries started before the submit returned
    done = poll(lambda: status(client, "quiet", job_id), lambda s: s["state"] == "done",
                TIMEOUT)
    assert done["state"] == "done"
    names = handlers.names()
    threads = services_of(app).settings.job_runner_threads
    # Only jobs already claimed when it arrived (one per job thread) ran before it.
    assert names.index("first") - started_before <= threads
    assert len([n for n in names if n.startswith("busy-")]) < BACKLOG


def test_a_tenant_whose_limit_is_full_does_not_delay_another_tenants_jobs(
        app, client, handlers):
    for tenant in ("blocked", "free"):
        assert put(client, tenant).status_code == 201
    held = Held(app, "blocked", "ocr", 5)  # every ocr permit of the tenant
    try:
        backlog = [submit(client, "blocked", f"blocked-{i}", kind="limited")
                   for i in range(50)]
        others = [submit(client, "free", f"free-{i}", kind="limited") for i in range(5)]
        for job_id in others:
            done = poll(lambda: status(client, "free", job_id, "limited"),
                        lambda s: s["state"] == "done", TIMEOUT)
            assert done["state"] == "done"
        # The blocked tenant's jobs wait without using up a try: without a permit, a job
        # is not even claimed.
        stored = [services_of(app).store.jobs.get("blocked", j) for j in backlog]
        assert {(job.state, job.attempts) for job in stored} == {("queued", 0)}
        text = client.get("/metrics").get_data(as_text=True)
        assert value(text, "tenant_jobs", tenant="blocked", state="queued") == len(backlog)
        assert value(text, "jobs_oldest_queued_seconds") > 0
    finally:
        held.release_all()
    for job_id in backlog:
        done = poll(lambda: status(client, "blocked", job_id, "limited"),
                    lambda s: s["state"] == "done", TIMEOUT)
        assert (done["state"], done["attempts"]) == ("done", 1)

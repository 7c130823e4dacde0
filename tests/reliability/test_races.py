"""Races the soak (test_soak.py) runs into, pinned down as fast, focused tests.

Under concurrent load with admin changes, a tenant is unloaded and rebuilt while other
requests use it: its validation and the job threads must survive that concurrency.
"""
from __future__ import annotations

import threading
import types

import pytest

from app.jobs import runner as runner_module
from app.runtime.health import ValidationFailure
from app.services import services_of
from tests.runtime.helpers import AUTH, KEY

THREADS = 8
ROUNDS = 100


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": KEY}


def test_concurrent_validations_never_report_a_writable_uploads_dir_as_unwritable(
        app, client):
    # Two workers' threads validate the same tenant when it is reloaded on both at once.
    assert client.put("/admin/tenants/acme", json={}, headers=AUTH).status_code == 201
    builder = services_of(app).tenants.factory
    runtime = builder.build(services_of(app).store.tenants.get("acme"))
    failures: list[str] = []
    barrier = threading.Barrier(THREADS)

    def validate_repeatedly() -> None:
        barrier.wait(10)
        for _ in range(ROUNDS):
            try:
                builder.validate(runtime)
            except ValidationFailure as failure:
                failures.append(failure.reason)

    threads = [threading.Thread(target=validate_repeatedly) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    runtime.stop()
    assert failures == []


class GatedThread(threading.Thread):
    """A thread whose start() waits (bounded) for the gate: it widens the window between
    the job runner creating its threads and starting them, where stop() may arrive."""

    gate = threading.Event()

    def start(self) -> None:
        self.gate.wait(1.0)
        super().start()


def test_stopping_the_job_runner_while_its_threads_are_starting_leaves_none(
        app, monkeypatch):
    gated = types.SimpleNamespace(**{**vars(threading), "Thread": GatedThread})
    monkeypatch.setattr(runner_module, "threading", gated)
    GatedThread.gate.clear()
    jobs = services_of(app).jobs
    starter = threading.Thread(target=jobs.start)  # as the first submit of a process does
    starter.start()
    stopper = threading.Thread(target=jobs.stop)  # the app closing meanwhile
    stopper.start()
    GatedThread.gate.set()
    starter.join(10)
    stopper.join(20)
    assert not starter.is_alive() and not stopper.is_alive()
    for thread in jobs.threads():
        thread.join(5)
        assert not thread.is_alive(), "a job thread outlived its stopped runner"

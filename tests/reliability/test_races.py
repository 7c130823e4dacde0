"""Races the soak (test_soak.py) runs into, pinned down as fast, focused tests.

Under concurrent load with admin changes, a tenant is unloaded and rebuilt while other
requests use it: its validation and its upload thread must survive that concurrency.
"""
from __future__ import annotations

import threading
import types

import pytest

from app.runtime import uploads
from app.runtime.health import ValidationFailure
from app.runtime.uploads import UploadFiles, UploadWorker
from app.services import services_of
from tests.runtime.helpers import AUTH, KEY
from tests.support.polling import poll

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
    an UploadWorker creating its thread and starting it, where stop() may arrive."""

    gate = threading.Event()

    def start(self) -> None:
        self.gate.wait(1.0)
        super().start()


def test_stopping_an_upload_worker_while_its_thread_is_starting_does_not_raise(
        app, monkeypatch, tmp_path):
    gated = types.SimpleNamespace(**{**vars(threading), "Thread": GatedThread})
    monkeypatch.setattr(uploads, "threading", gated)
    GatedThread.gate.clear()
    records = services_of(app).store.uploads
    worker = UploadWorker("acme", UploadFiles(str(tmp_path)), records)
    submitter = threading.Thread(target=lambda: _submit_quietly(worker))
    submitter.start()
    try:
        # Its thread is made (and held at start() by the gate) soon after the submit.
        poll(lambda: worker.thread, lambda thread: thread is not None, 5)
        # The unload (a config change seen by another request) stops the worker now.
        stopped = worker.stop(timeout=5)
    finally:
        GatedThread.gate.set()
        submitter.join(10)
    assert stopped in (True, False)
    thread = worker.thread
    if thread is not None and thread.ident is not None:
        thread.join(5)
        assert not thread.is_alive(), "the upload thread outlived its stopped worker"


def _submit_quietly(worker: UploadWorker) -> None:
    try:
        worker.submit("0" * 32)
    except RuntimeError:
        pass  # refused because the worker is stopping: that is fine

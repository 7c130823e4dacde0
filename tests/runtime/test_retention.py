"""Upload retention: old uploads go with their files, and so do abandoned receptions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.runtime.retention import UploadPruner
from app.services import services_of
from tests.runtime.helpers import KEY, put, stored_files, upload

SETTINGS = {"TENANT_ADMIN_KEY": KEY, "GUNICORN_THREADS": 32, "TENANT_MAX_THREAD_SHARE": 1}


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", SETTINGS)


def pruner_at(app, moment: datetime) -> UploadPruner:
    return UploadPruner(services_of(app).store,
                        services_of(app).settings, clock=lambda: moment)


@pytest.mark.parametrize("settings_overrides", [
    {**SETTINGS, "UPLOAD_RETENTION_DAYS": 7}], indirect=True)
def test_uploads_older_than_retention_are_removed_with_their_files(app, client, data_root):
    assert put(client, "acme").status_code == 201
    kept_id = upload(client, "acme").get_json()["id"]
    now = datetime.now(timezone.utc)

    assert pruner_at(app, now + timedelta(days=6)).run_once() == 0
    assert pruner_at(app, now + timedelta(days=7, minutes=1)).run_once() == 1

    assert client.get(f"/t/acme/uploads/{kept_id}").status_code == 404
    assert stored_files(data_root, "acme") == []


def test_without_retention_only_abandoned_receptions_are_removed(app, client, data_root):
    assert put(client, "acme", {"quota": {"uploads": 2}}).status_code == 201
    kept = upload(client, "acme").get_json()["id"]
    # A worker that died writing its file leaves a reservation that was never acknowledged.
    services_of(app).store.uploads.reserve("acme", "f" * 32, "lost.bin", 5, 99, 99)
    assert upload(client, "acme").status_code == 403  # the reservation holds quota

    now = datetime.now(timezone.utc)
    assert pruner_at(app, now + timedelta(minutes=30)).run_once() == 0
    assert pruner_at(app, now + timedelta(days=365)).run_once() == 1

    assert client.get(f"/t/acme/uploads/{kept}").status_code == 200
    assert upload(client, "acme").status_code == 202

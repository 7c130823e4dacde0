"""Shared fixtures: an app on a private store and data root, its client and CLI runner, and
a global readiness check a test can fail."""
from __future__ import annotations

import pytest

from app import close_app, create_app
from app.readiness.checks import CheckFailed
from app.services import services_of
from tests.support.postgres_fixtures import postgres_server, postgres_url  # noqa: F401


@pytest.fixture
def settings_overrides():
    """Override in a test module (or via indirect parametrize) to change settings."""
    return {}


@pytest.fixture
def app(tmp_path, settings_overrides, monkeypatch):
    for name in ("TENANT_ADMIN_KEY", "TENANT_API_KEY", "TENANT_DB_URL",
                 "PROMETHEUS_MULTIPROC_DIR", "CHAOS_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    config = {
        "TESTING": True,
        "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
        "TENANT_DATA_ROOT": str(tmp_path / "tenants"),
        # The product keeps 256 MiB free; a test machine's disk may have less to spare.
        "STORAGE_RESERVE_BYTES": 1 << 20,
    }
    config.update(settings_overrides)
    app = create_app(config)
    yield app
    close_app(app)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Switch:
    """A global check a test can fail and heal."""

    def __init__(self):
        self.ok = True

    def __call__(self):
        if not self.ok:
            raise CheckFailed("dependency down")


@pytest.fixture
def switch(app):
    """A flip-able global readiness check named ``dependency``."""
    switch = Switch()
    services_of(app).readiness.checks.add("dependency", switch)
    return switch

"""Runtime tests run with an admin key; modules add what they need on top."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.runtime.registry import TenantRegistry
from app.services import services_of
from tests.runtime.helpers import KEY
from tests.runtime.registry_doubles import WAIT


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": KEY}


@pytest.fixture
def data_root(app) -> Path:
    root = Path(services_of(app).settings.data_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def tenants(app):
    return services_of(app).tenants


@pytest.fixture
def sink() -> list:
    """Every (tenant, state, reason) the registry persists, in order."""
    return []


@pytest.fixture
def registry(sink):
    registry = TenantRegistry(health_sink=lambda *state: sink.append(state), build_wait=WAIT)
    yield registry
    registry.close()

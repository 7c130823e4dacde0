"""Fixtures for the tenants tests that run an app (tests/conftest.py's)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def root(tmp_path) -> Path:
    """TENANT_DATA_ROOT of the test app (tests/conftest.py), as the app resolves it."""
    path = tmp_path / "tenants"
    path.mkdir(exist_ok=True)
    return path.resolve()

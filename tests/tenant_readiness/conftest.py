"""Fixtures for the tenant readiness tests that use the test client."""
from __future__ import annotations


import pytest

from tests.tenant_readiness.helpers import BASE


@pytest.fixture
def settings_overrides(request):
    """BASE, changed per test with indirect parametrize (None removes a setting)."""
    merged = {**BASE, **getattr(request, "param", {})}
    return {k: v for k, v in merged.items() if v is not None}

"""Admin tests run with two rotated admin keys, a cap of 3 and a small JSON limit."""
from __future__ import annotations

from app.services import services_of

from pathlib import Path

import pytest

from tests.admin.helpers import SETTINGS, put


@pytest.fixture
def settings_overrides():
    return dict(SETTINGS)


@pytest.fixture
def store(app):
    return services_of(app).store


@pytest.fixture
def root(app) -> Path:
    return Path(services_of(app).settings.data_root).resolve()


@pytest.fixture
def acme(client):
    """An existing tenant with some configuration, to show that refusals change nothing."""
    body = {"hosts": ["acme.example"], "limits": {"ocr": 2}, "extra": {"plan": "gold"}}
    assert put(client, "acme", body).status_code == 201
    return body

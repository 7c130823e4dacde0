"""Tenant directories are resolved (links included) to a place inside TENANT_DATA_ROOT.

Paths that leave the root are refused in tests/admin/test_views_validation.py; here,
what an accepted path becomes, and the paths refused for their form.
"""
from __future__ import annotations

import pytest

from app.tenants.paths import MAX_PATH_DEPTH

KEY = "paths-admin-key-2f7c"
AUTH = {"X-Admin-Key": KEY}


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": KEY}


def put(client, body: dict):
    return client.put("/admin/tenants/acme", json=body, headers=AUTH)


@pytest.mark.parametrize("field", ["data_dir", "uploads_dir"])
def test_a_relative_directory_is_taken_inside_the_data_root(client, root, field):
    response = put(client, {field: "acme-files/here"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()[field] == str(root / "acme-files" / "here")


@pytest.mark.parametrize("field", ["data_dir", "uploads_dir"])
def test_a_link_inside_the_data_root_is_stored_as_where_it_points(client, root, field):
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    response = put(client, {field: str(root / "alias" / "acme")})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()[field] == str(root / "real" / "acme")


def test_a_path_of_as_many_components_as_allowed_is_accepted(client, root):
    response = put(client, {"data_dir": "/".join(["d"] * MAX_PATH_DEPTH)})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data_dir"] == str(root.joinpath(*["d"] * MAX_PATH_DEPTH))


@pytest.mark.parametrize("field", ["data_dir", "uploads_dir"])
def test_a_path_deeper_than_allowed_is_400_and_stores_nothing(client, field):
    response = put(client, {field: "/".join(["d"] * (MAX_PATH_DEPTH + 1))})
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_path", "field": field,
                                   "max_depth": MAX_PATH_DEPTH}
    assert client.get("/admin/tenants/acme", headers=AUTH).status_code == 404


@pytest.mark.parametrize("field", ["data_dir", "uploads_dir"])
def test_a_path_that_is_not_valid_text_is_400_and_stores_nothing(client, field):
    response = put(client, {field: "acme-\udcff"})  # a lone surrogate: no UTF-8 for it
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_path", "field": field}
    assert client.get("/admin/tenants/acme", headers=AUTH).status_code == 404

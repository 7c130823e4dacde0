"""/admin/tenants refusals (contract sec. 2, 4, 7): each a JSON error, each changing nothing."""
from __future__ import annotations

import pytest

from tests.admin.helpers import AUTH, CAP, metric, put, snapshot

BAD_IDS = {
    "upper case": "Acme",
    "dot dot": "..",
    "encoded dot dot": "%2e%2e",
    "64 chars": "a" * 64,
    "underscore": "acme_corp",
    "cyrillic a look-alike": "\u0430cme",
    "fullwidth look-alike": "\uff41cme",
    "leading dash": "-acme",
    "trailing dash": "acme-",
    "trailing newline": "acme%0A",
    "encoded space": "acme%20",
}


@pytest.mark.parametrize("tenant", BAD_IDS.values(), ids=BAD_IDS.keys())
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_bad_tenant_id_is_400_before_any_state(client, store, root, acme, tenant, method):
    before = snapshot(store)
    response = getattr(client, method)(f"/admin/tenants/{tenant}", json={}, headers=AUTH)
    assert response.status_code == 400
    assert response.json == {"error": "invalid_tenant_id"}
    assert snapshot(store) == before
    assert sorted(p.name for p in root.iterdir()) == ["acme"]


def test_63_char_id_is_the_longest_accepted(client):
    assert put(client, "a" * 63).status_code == 201


PATHS = {
    "dot dot in data_dir": ("data_dir", "../escape"),
    "dot dot in uploads_dir": ("uploads_dir", "newco/../../escape"),
    "dot dot after absolute root": ("data_dir", "{root}/newco/../../escape"),
    "absolute outside": ("data_dir", "/etc"),
    "sibling sharing the prefix": ("uploads_dir", "{root}-evil/newco"),
    "the root itself": ("data_dir", "{root}"),
    "the root, relative": ("uploads_dir", "."),
    "the root, roundabout": ("data_dir", "newco/.."),
    "symlink leaving the root": ("data_dir", "link/newco"),
    "NUL byte": ("data_dir", "newco\x00/data"),
}


@pytest.mark.parametrize("field,path", PATHS.values(), ids=PATHS.keys())
@pytest.mark.parametrize("tenant", ["acme", "newco"])
def test_path_outside_data_root_is_400(client, store, root, tmp_path, acme, tenant, field,
                                       path):
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    before = snapshot(store)
    response = put(client, tenant, {field: path.format(root=root)})
    assert response.status_code == 400
    assert response.json == {"error": "path_outside_data_root", "field": field}
    assert snapshot(store) == before
    assert list((tmp_path / "outside").iterdir()) == []


@pytest.mark.parametrize("path", [".purged-x", ".purged-acme-0123/data", "{root}/.purged-y/z"])
@pytest.mark.parametrize("field", ["data_dir", "uploads_dir"])
def test_a_directory_where_purged_tenants_wait_for_deletion_is_400(client, store, root,
                                                                   acme, field, path):
    # app/tenants/purge.py deletes what lies there: it can never be a tenant's.
    before = snapshot(store)
    response = put(client, "newco", {field: path.format(root=root)})
    assert response.status_code == 400
    assert response.json == {"error": "invalid_path", "field": field}
    assert snapshot(store) == before


BODIES = {
    "unknown field": ({"bogus": 1}, "bogus"),
    "enabled yes": ({"enabled": "yes"}, "enabled"),
    "enabled 1": ({"enabled": 1}, "enabled"),
    "enabled null": ({"enabled": None}, "enabled"),
    "limit as string": ({"limits": {"ocr": "3"}}, "limits"),
    "limit 0": ({"limits": {"ocr": 0}}, "limits"),
    "limit -1": ({"limits": {"ocr": -1}}, "limits"),
    "limit 1.5": ({"limits": {"ocr": 1.5}}, "limits"),
    "limit true": ({"limits": {"ocr": True}}, "limits"),
    "limit name": ({"limits": {"OCR-x": 3}}, "limits"),
    "reserved limit name": ({"limits": {"requests": 3}}, "limits"),
    "limits a list": ({"limits": [3]}, "limits"),
    "hosts a string": ({"hosts": "acme.example"}, "hosts"),
    "hosts an object": ({"hosts": {"acme.example": True}}, "hosts"),
    "host not a name": ({"hosts": ["bad host!"]}, "hosts"),
    "host repeated after normalising": ({"hosts": ["a.example", "A.EXAMPLE:80"]}, "hosts"),
    "extra a list": ({"extra": ["x"]}, "extra"),
    "extra a string": ({"extra": "x"}, "extra"),
    "data_dir a number": ({"data_dir": 5}, "data_dir"),
    "data_dir empty": ({"data_dir": ""}, "data_dir"),
}


@pytest.mark.parametrize("body,field", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("tenant", ["acme", "newco"])
def test_invalid_body_is_400_naming_the_field(client, store, acme, tenant, body, field):
    before = snapshot(store)
    response = put(client, tenant, body)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_body"
    assert field in response.json["fields"]
    assert snapshot(store) == before


@pytest.mark.parametrize("data", [b"[]", b'"acme"', b"3", b"null"], ids=repr)
def test_body_that_is_not_an_object_is_400(client, store, acme, data):
    before = snapshot(store)
    response = client.put("/admin/tenants/acme", data=data, content_type="application/json",
                          headers=AUTH)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_body"
    assert snapshot(store) == before


@pytest.mark.parametrize("data", [b"{bad", b'{"enabled": true', b"\xff\xfe{}", b"",
                                  b"{'enabled': false}", b'{"enabled": tru}'], ids=repr)
def test_malformed_json_is_400(client, store, acme, data):
    before = snapshot(store)
    response = client.put("/admin/tenants/acme", data=data, content_type="application/json",
                          headers=AUTH)
    assert response.status_code == 400
    assert response.json == {"error": "malformed_json"}
    assert snapshot(store) == before


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain",
                                          None])
def test_body_that_is_not_json_is_415_not_a_reset_to_defaults(client, store, acme,
                                                              content_type):
    # What `curl -X PUT -d '{"enabled": false}'` sends: it must not re-create acme bare.
    before = snapshot(store)
    response = client.put("/admin/tenants/acme", data=b'{"enabled": false}',
                          content_type=content_type, headers=AUTH)
    assert response.status_code == 415
    assert response.json == {"error": "unsupported_media_type"}
    assert snapshot(store) == before


def test_oversize_body_is_413(client, store, acme):
    before = snapshot(store)
    response = put(client, "acme", {"extra": {"blob": "x" * 2000}})
    assert response.status_code == 413
    assert response.json == {"error": "payload_too_large"}
    assert snapshot(store) == before


# -- label cap (MAX_TENANT_LABELS=3) ------------------------------------------------------
def test_fourth_new_tenant_is_refused_with_429(client, store, root, acme):
    assert [put(client, t).status_code for t in ("beta", "gamma")] == [201, 201]
    before = snapshot(store)
    response = put(client, "delta", {"hosts": ["delta.example"]})
    assert response.status_code == 429
    assert response.json == {"error": "label_cardinality_limit", "limit": CAP}
    assert snapshot(store) == before
    assert not (root / "delta").exists()
    # A disabled tenant keeps its label.
    assert client.delete("/admin/tenants/beta", headers=AUTH).status_code == 200
    assert put(client, "delta").status_code == 429


def test_update_of_an_existing_tenant_at_the_cap_still_works(client, acme):
    assert [put(client, t).status_code for t in ("beta", "gamma")] == [201, 201]
    response = put(client, "gamma", {"enabled": False, "hosts": ["gamma.example"]})
    assert response.status_code == 200
    assert response.json["hosts"] == ["gamma.example"]


def test_each_refusal_raises_the_rejection_counter_by_one(client, acme):
    assert [put(client, t).status_code for t in ("beta", "gamma")] == [201, 201]
    assert metric(client, "tenant_label_rejections_total") == 0
    for refused in range(1, 4):
        assert put(client, f"new{refused}").status_code == 429
        assert metric(client, "tenant_label_rejections_total") == refused
    # Updates at the cap and refusals for other reasons are not counted.
    assert put(client, "acme").status_code == 200
    assert put(client, "new9", {"bogus": 1}).status_code == 400
    assert metric(client, "tenant_label_rejections_total") == 3
    assert metric(client, "tenant_labels_active") == CAP
    assert metric(client, "tenant_labels_limit") == CAP


# -- conflicts between tenants ------------------------------------------------------------
@pytest.mark.parametrize("claimed", ["acme.example", "ACME.example:443", "acme.example."])
def test_host_already_served_by_another_tenant_is_409(client, store, acme, claimed):
    before = snapshot(store)
    response = put(client, "beta", {"hosts": ["beta.example", claimed]})
    assert response.status_code == 409
    assert response.json == {"error": "host_taken", "host": "acme.example"}
    assert snapshot(store) == before
    assert put(client, "acme", {"hosts": [claimed]}).status_code == 200


@pytest.mark.parametrize("field,path", [
    ("data_dir", "acme/data/inner"), ("uploads_dir", "acme/uploads"),
    ("data_dir", "acme"), ("uploads_dir", "{root}/acme/data/../uploads/x")])
def test_directory_inside_another_tenants_is_409(client, store, root, acme, field, path):
    before = snapshot(store)
    response = put(client, "beta", {field: path.format(root=root)})
    assert response.status_code == 409
    assert response.json == {"error": "directory_in_use", "field": field}
    assert snapshot(store) == before

"""Every 4xx/5xx anywhere is JSON {"error": ...}; a 500 never carries a traceback."""
from __future__ import annotations

from app.services import services_of

import pytest
from flask import Blueprint, request


@pytest.fixture
def settings_overrides():
    return {"MAX_JSON_BYTES": 2048}


@pytest.fixture
def app(app):
    probe = Blueprint("probe", __name__)

    @probe.route("/_probe/echo", methods=["POST"])
    def echo():
        return {"got": request.get_json()}

    @probe.route("/_probe/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    app.register_blueprint(probe)
    return app


def test_unknown_url_is_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json == {"error": "not_found"}


def test_wrong_method_is_json_405_with_allow(client):
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.json == {"error": "method_not_allowed"}
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_400(client):
    response = client.post("/_probe/echo", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": "malformed_json"}


def test_oversize_body_is_413(client):
    response = client.post("/_probe/echo", data="[" + "1," * 4000 + "1]",
                           content_type="application/json")
    assert response.status_code == 413
    assert response.json == {"error": "payload_too_large"}


def test_unexpected_exception_is_500_without_traceback(client):
    response = client.get("/_probe/boom")
    assert response.status_code == 500
    assert response.json == {"error": "internal_error"}
    assert b"Traceback" not in response.data and b"passwd" not in response.data


def test_many_apps_in_one_process_do_not_collide(tmp_path):
    from app import create_app

    apps = [create_app({"TENANT_DB_PATH": str(tmp_path / f"s{i}.sqlite3"),
                        "TENANT_DATA_ROOT": str(tmp_path / "t")}) for i in range(5)]
    for each in apps:
        assert each.test_client().get("/metrics").status_code == 200
        services_of(each).store.close()


@pytest.mark.parametrize("path", ["/t/nobody/health", "/no/such/thing"])
def test_an_error_without_fields_is_written_as_jsonify_writes_it(app, client, path):
    first, again = client.get(path), client.get(path)  # the second from the kept body
    with app.app_context():
        expected = app.json.response(first.get_json()).get_data()
    assert first.get_data() == again.get_data() == expected
    assert first.mimetype == again.mimetype == "application/json"

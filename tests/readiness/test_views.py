"""/healthz and /readyz through the test client, row by row of contract sec. 3."""
from __future__ import annotations
from app.services import services_of

from tests.support.metrics_text import scrape, value


def test_healthz_is_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_healthz_stays_ok_when_a_check_fails(client, switch):
    switch.ok = False
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_is_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready"}


def test_failing_check_turns_readyz_503_and_back(client, switch):
    switch.ok = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "not ready"}
    switch.ok = True
    assert client.get("/readyz").status_code == 200


def test_verbose_lists_every_check_with_duration_and_error(client, switch):
    switch.ok = False
    body = client.get("/readyz?verbose=1").json
    checks = {c["name"]: c for c in body["checks"]}
    assert set(checks) == {"store", "shutdown", "dependency"}
    assert checks["dependency"]["ok"] is False
    assert checks["dependency"]["error"] == "dependency down"
    assert checks["store"] == {**checks["store"], "ok": True, "error": None}
    assert all(c["duration_ms"] >= 0 for c in body["checks"])


def test_single_check_answers_alone(client, switch):
    switch.ok = False
    ok = client.get("/readyz/store")
    assert ok.status_code == 200
    assert ok.json["status"] == "ready"
    assert [c["name"] for c in ok.json["checks"]] == ["store"]
    failed = client.get("/readyz/dependency")
    assert failed.status_code == 503
    assert failed.json["checks"][0]["error"] == "dependency down"


def test_unknown_check_is_404(client):
    response = client.get("/readyz/nonexistent")
    assert response.status_code == 404
    assert response.json["error"] == "unknown_check"


def test_exclude_leaves_a_failing_check_out(client, switch):
    switch.ok = False
    assert client.get("/readyz").status_code == 503
    response = client.get("/readyz?exclude=dependency")
    assert response.status_code == 200
    assert "warnings" not in response.json


def test_exclude_is_repeatable(client, switch):
    switch.ok = False
    response = client.get("/readyz?exclude=dependency&exclude=store&verbose=1")
    assert response.status_code == 200
    assert [c["name"] for c in response.json["checks"]] == ["shutdown"]


def test_unknown_exclude_is_reported_as_warning(client):
    response = client.get("/readyz?exclude=bogus")
    assert response.status_code == 200
    assert response.json["warnings"] == ["unknown check 'bogus' in exclude"]


def test_draining_fails_the_shutdown_check(app, client):
    services_of(app).drain.start()
    response = client.get("/readyz?verbose=1")
    assert response.status_code == 503
    shutdown = next(c for c in response.json["checks"] if c["name"] == "shutdown")
    assert shutdown["ok"] is False
    assert client.get("/readyz/shutdown").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_broken_store_fails_the_store_check(app, client):
    store = services_of(app).store
    store.close()
    store.db.path.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        store.db.path.with_name(store.db.path.name + suffix).unlink(missing_ok=True)
    response = client.get("/readyz?verbose=1")
    assert response.status_code == 503
    check = next(c for c in response.json["checks"] if c["name"] == "store")
    assert check["ok"] is False and check["error"]


def test_readiness_metrics_follow_state(client, switch):
    client.get("/readyz")
    text = scrape(client)
    assert value(text, "readiness_state") == 1.0
    assert value(text, "readiness_check_ok", check="dependency") == 1.0
    switch.ok = False
    client.get("/readyz")
    text = scrape(client)
    assert value(text, "readiness_state") == 0.0
    assert value(text, "readiness_check_ok", check="dependency") == 0.0
    assert value(text, "readiness_check_duration_seconds_count") >= 2


def test_transitions_are_counted_once_per_change(client, switch):
    def transitions():
        return value(scrape(client), "readiness_transitions_total")

    start = transitions()
    for _ in range(3):
        client.get("/readyz")
    assert transitions() == start
    switch.ok = False
    for _ in range(3):
        client.get("/readyz")
    assert transitions() == start + 1
    switch.ok = True
    for _ in range(3):
        client.get("/readyz")
    assert transitions() == start + 2


def test_excluded_evaluation_does_not_move_readiness_state(client, switch):
    switch.ok = False
    client.get("/readyz")
    client.get("/readyz?exclude=dependency")
    assert value(scrape(client), "readiness_state") == 0.0

"""The audit log (contract sec. 15) through HTTP and the CLI, on both store backends: every
kind of change once, with its actor and fields; never a key; pages and their bounds."""
from __future__ import annotations

import json
import logging

import pytest

from app.store.audit import MAX_PAGE
from tests.support.tenant_folders import ADMIN_KEYS, API_KEY, fingerprint, write_tenant
from tests.support.tenant_folders import app  # noqa: F401 (the fixture: both backends)


FIRST, SECOND = ({"X-Admin-Key": k} for k in ADMIN_KEYS)
API = {"X-API-Key": API_KEY}


def entries(client, headers=FIRST, **query) -> list[dict]:
    response = client.get("/admin/audit", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["entries"]


def shapes(found: list[dict]) -> list[tuple]:
    """Oldest first, without ids and times."""
    return [(e["action"], e["tenant"], e["fields"], e["actor"]) for e in reversed(found)]


def test_every_kind_of_change_is_recorded_once_with_its_actor_and_fields(client, runner,
                                                                         tmp_path):
    first, second, api = (fingerprint(k) for k in (*ADMIN_KEYS, API_KEY))
    answers = [
        client.put("/admin/tenants/acme", json={"hosts": ["acme.example"]}, headers=FIRST),
        client.put("/admin/tenants/acme", json={"hosts": ["acme.example"],
                                                "limits": {"ocr": 2}}, headers=SECOND),
        client.post("/admin/tenants/acme/recheck", headers=FIRST),
        client.post("/tenant/acme/set_ready", json={"ready": False}, headers=API),
        client.post("/tenant/acme/set_ready", json={"ready": False}, headers=API),  # no change
        client.post("/tenant/fresh/set_ready", json={"ready": True}, headers=API),
        client.delete("/admin/tenants/acme", headers=SECOND),
        client.delete("/admin/tenants/fresh?purge=1", headers=FIRST),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200, 200, 200, 200]
    folder = tmp_path / "folder"
    write_tenant(folder.mkdir() or folder, "cli-made", {"extra": {"team": "x"}})
    assert runner.invoke(args=["tenants", "apply", str(folder)]).exit_code == 0
    assert runner.invoke(args=["tenants", "disable", "cli-made"]).exit_code == 0
    assert client.post("/admin/apply", json={"tenants": {"cli-made": {}}},
                       headers=SECOND).status_code == 200

    assert shapes(entries(client)) == [
        ("create", "acme", ["hosts"], first),
        ("update", "acme", ["limits"], second),
        ("recheck", "acme", ["health"], first),          # pending -> healthy
        ("readiness_override", "acme", ["ready"], api),
        ("create", "fresh", [], api),                    # set_ready registers a new tenant
        ("readiness_override", "fresh", ["ready"], api),
        ("disable", "acme", ["enabled"], second),
        ("purge", "fresh", [], first),
        ("create", "cli-made", ["extra"], "cli"),
        ("disable", "cli-made", ["enabled"], "cli"),
        ("update", "cli-made", ["enabled", "extra"], second),
    ]
    assert shapes(entries(client, tenant="fresh")) == [
        ("create", "fresh", [], api), ("readiness_override", "fresh", ["ready"], api),
        ("purge", "fresh", [], first)]


def test_an_entry_names_time_action_tenant_fields_and_actor(client):
    client.put("/admin/tenants/acme", json={}, headers=FIRST)
    (entry,) = entries(client)
    assert set(entry) == {"id", "at", "action", "tenant", "fields", "actor"}
    assert entry["at"].endswith("Z") and entry["at"][:2] == "20"


def test_a_refused_change_leaves_no_entry(client):
    assert client.put("/admin/tenants/acme", json={"data_dir": "/etc"},
                      headers=FIRST).status_code == 400
    assert client.put("/admin/tenants/Bad", json={}, headers=FIRST).status_code == 400
    assert client.delete("/admin/tenants/nobody", headers=FIRST).status_code == 404
    assert client.post("/admin/apply", json={"tenants": {"x": {"limits": {"ocr": -1}}}},
                       headers=FIRST).status_code == 400
    assert entries(client) == []


def everything_stored(store) -> str:
    """Every row of every table of the store, as text."""
    with store.db.read() as conn:
        if store.db.dialect == "postgres":
            names = [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()").fetchall()]
        else:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
        return "\n".join(repr(conn.execute(f'SELECT * FROM "{name}"').fetchall())
                         for name in names)


def test_a_key_is_never_stored_answered_or_logged(client, store, caplog):
    keys = (*ADMIN_KEYS, API_KEY)
    with caplog.at_level(logging.DEBUG):
        answers = [
            client.put("/admin/tenants/acme", json={}, headers=FIRST),
            client.post("/tenant/acme/set_ready", json={"ready": True}, headers=API),
            client.post("/admin/tenants/acme/recheck", headers=SECOND),
            client.post("/admin/apply", json={"tenants": {"acme": {}, "beta": {}}},
                        headers=SECOND),
            client.get("/admin/audit", headers=FIRST),
            client.get("/admin/audit", headers={"X-Admin-Key": "wrong-" + ADMIN_KEYS[0]}),
        ]
    assert len(entries(client)) == 4  # acme created, override, recheck, beta created
    seen = everything_stored(store) + caplog.text + "".join(
        a.get_data(as_text=True) + json.dumps(dict(a.headers)) for a in answers)
    for key in keys:
        assert key not in seen
        assert fingerprint(key) in seen  # the actor names it, without it


def test_pages_run_newest_first_with_their_bounds(client, store):
    for index in range(7):
        store.audit.record("create", f"t{index}", [], "cli")
    newest = entries(client)
    assert [e["tenant"] for e in newest] == [f"t{i}" for i in reversed(range(7))]
    assert [e["id"] for e in newest] == sorted((e["id"] for e in newest), reverse=True)

    walked, before = [], None
    while True:
        query = {"limit": 3, **({"before": before} if before else {})}
        page = client.get("/admin/audit", query_string=query, headers=FIRST).get_json()
        assert len(page["entries"]) <= 3
        walked += page["entries"]
        before = page["next_before"]
        if before is None:
            break
    assert walked == newest  # every entry once, in order

    assert len(entries(client, limit=MAX_PAGE)) == 7
    assert len(entries(client, limit=1)) == 1
    for bad in ({"limit": 0}, {"limit": MAX_PAGE + 1}, {"limit": "ten"}, {"limit": -1},
                {"before": 0}, {"tenant": "Not_Valid"}):
        answer = client.get("/admin/audit", query_string=bad, headers=FIRST)
        assert answer.status_code == 400, bad
        assert answer.get_json()["error"] == "invalid_query"


def test_the_default_page_is_a_hundred_entries(client, store):
    for index in range(105):
        store.audit.record("update", "acme", ["limits"], "cli")
    page = client.get("/admin/audit", headers=FIRST).get_json()
    assert len(page["entries"]) == 100 and page["next_before"] == page["entries"][-1]["id"]


@pytest.mark.parametrize("headers", [{}, {"X-Admin-Key": "nope"}, API,
                                     {"X-Admin-Key": ADMIN_KEYS[0] + "x"}])
def test_audit_and_apply_refuse_anyone_without_an_admin_key(client, headers):
    client.put("/admin/tenants/acme", json={}, headers=FIRST)
    for answer in (client.get("/admin/audit", headers=headers),
                   client.post("/admin/apply", json={"tenants": {"beta": {}}},
                               headers=headers)):
        assert answer.status_code == 401 and answer.get_json() == {"error": "unauthorized"}
    assert [e["tenant"] for e in entries(client)] == ["acme"]

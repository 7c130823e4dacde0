"""The ``tenantgate-admin`` console script against a real gunicorn over 127.0.0.1."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import free_port, running_server

pytestmark = pytest.mark.gunicorn

ADMIN = Path(sys.executable).with_name("tenantgate-admin")
KEYS = ("cli-key-a-81f3c0d2", "cli-key-b-4e77a9b1")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("client"), workers=2,
                        env={"TENANT_ADMIN_KEY": ",".join(KEYS)}) as server:
        yield server
        log = server.log()
    assert all(key not in log for key in KEYS)


def admin(url, *args, key=KEYS[1], input=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENANT", "TENANTGATE"))}
    env.update({"TENANTGATE_URL": url, "TENANT_ADMIN_KEY": key})
    result = subprocess.run([str(ADMIN), *args], env=env, input=input, capture_output=True,
                            text=True, timeout=60)
    for secret in (*KEYS, key):
        assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def ok(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def error(result):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def show(server, tenant):
    return server.get(f"/admin/tenants/{tenant}", headers={"X-Admin-Key": KEYS[0]})


def test_put_creates_then_updates(server):
    out = ok(admin(server.base, "put", "acme", "--host", "Acme.Example", "--limit", "ocr=3",
                   "--extra", '{"plan": "gold"}'))
    assert out == "created tenant acme\n"
    record = show(server, "acme").json()
    assert record["hosts"] == ["acme.example"] and record["limits"] == {"ocr": 3}
    assert record["extra"] == {"plan": "gold"}
    assert ok(admin(server.base, "put", "acme", "--disabled")) == "updated tenant acme\n"
    assert show(server, "acme").json()["enabled"] is False


def test_put_sets_models_and_budget_and_the_server_refuses_a_seventh_decimal(server):
    ok(admin(server.base, "put", "spender", "--model", "model-a", "--model", "model-b",
             "--daily-cap-usd", "2.5", "--max-per-request-usd", "0.25"))
    record = show(server, "spender").json()
    assert record["models"] == {"allowed": ["model-a", "model-b"]}
    assert record["budget"] == {"daily_cap_usd": 2.5, "max_per_request_usd": 0.25}
    assert "budget" in error(admin(server.base, "put", "spender",
                                   "--daily-cap-usd", "0.1234567"))
    assert "daily-cap-usd" in admin(server.base, "put", "spender",
                                    "--daily-cap-usd", "five").stderr
    assert show(server, "spender").json()["budget"]["daily_cap_usd"] == 2.5


def test_list_prints_a_table(server):
    ok(admin(server.base, "put", "listed", "--host", "listed.example"))
    lines = ok(admin(server.base, "list")).splitlines()
    assert lines[0].split() == ["TENANT_ID", "ENABLED", "HOSTS", "DATA_DIR"]
    row = next(line.split() for line in lines if line.startswith("listed "))
    assert row[:3] == ["listed", "yes", "listed.example"]
    assert lines[-1].endswith("tenant(s)")


def test_show_prints_the_tenant_as_json(server):
    ok(admin(server.base, "put", "shown", "--limit", "llm_total=4"))
    record = json.loads(ok(admin(server.base, "show", "shown")))
    assert record["tenant_id"] == "shown" and record["limits"] == {"llm_total": 4}


def test_disable_keeps_the_record(server):
    ok(admin(server.base, "put", "disabled"))
    assert ok(admin(server.base, "disable", "disabled")) == "disabled tenant disabled\n"
    assert show(server, "disabled").json()["enabled"] is False


def test_purge_with_yes_removes_the_record(server):
    ok(admin(server.base, "put", "purged"))
    assert ok(admin(server.base, "purge", "purged", "--yes")) == "purged tenant purged\n"
    assert show(server, "purged").status_code == 404


def test_purge_declined_changes_nothing(server):
    ok(admin(server.base, "put", "kept"))
    result = admin(server.base, "purge", "kept", input="n\n")
    assert error(result) == "error: not confirmed; nothing changed"
    assert show(server, "kept").status_code == 200


def test_recheck_prints_json_and_404s_unknown(server):
    ok(admin(server.base, "put", "checked"))
    health = json.loads(ok(admin(server.base, "recheck", "checked")))
    assert health["state"] == "healthy" and health["last_checked_at"]
    assert error(admin(server.base, "recheck", "nobody")) == "error: HTTP 404 unknown_tenant"


@pytest.mark.parametrize("args,expected", [
    (("show", "nobody"), "error: HTTP 404 unknown_tenant"),
    (("disable", "nobody"), "error: HTTP 404 unknown_tenant"),
    (("show", "Bad_Id"), "error: HTTP 400 invalid_tenant_id"),
    (("show", "a b"), "error: HTTP 400 invalid_tenant_id"),
    (("put", "outside", "--data-dir", "/etc"),
     'error: HTTP 400 path_outside_data_root {"field": "data_dir"}'),
])
def test_server_refusal_is_one_error_line(server, args, expected):
    assert error(admin(server.base, *args)) == expected


def test_tenant_argument_cannot_smuggle_a_query(server):
    ok(admin(server.base, "put", "smuggle"))
    result = admin(server.base, "disable", "smuggle?purge=1")
    assert error(result) == "error: HTTP 400 invalid_tenant_id"
    assert show(server, "smuggle").json()["enabled"] is True


@pytest.mark.parametrize("key", ["wrong-key", KEYS[0][:-1], KEYS[0].upper()])
def test_wrong_key_is_refused(server, key):
    result = admin(server.base, "put", "intruder", key=key)
    assert error(result) == "error: HTTP 401 unauthorized"
    assert show(server, "intruder").status_code == 404


def test_first_of_several_keys_is_used(server):
    assert ok(admin(server.base, "list", key=f"{KEYS[0]},unused-key")).endswith("tenant(s)\n")


def test_key_option_overrides_the_environment(server):
    result = admin(server.base, "--key", KEYS[0], "list", key="wrong-key")
    assert ok(result).endswith("tenant(s)\n")


def test_unreachable_server_is_a_plain_message():
    url = f"http://127.0.0.1:{free_port()}"
    message = error(admin(url, "list"))
    assert message.startswith(f"error: cannot reach {url}: ")

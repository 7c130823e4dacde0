"""``tenantgate-admin apply DIR`` and ``tenantgate-admin audit`` against a real gunicorn
(2 workers) over 127.0.0.1: the folder read here, applied there through POST /admin/apply."""
from __future__ import annotations

import pytest

from tests.admin.test_client import KEYS, admin
from tests.support.tenant_folders import fingerprint, write_tenant
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("client-apply"), workers=2,
                        env={"TENANT_ADMIN_KEY": ",".join(KEYS), "DEFAULT_TENANT": ""}) as server:
        yield server
        log = server.log()
    assert all(key not in log for key in KEYS)


def stored(server, tenant):
    return server.get(f"/admin/tenants/{tenant}", headers={"X-Admin-Key": KEYS[0]})


def test_apply_then_reapply_then_audit(server, tmp_path):
    folder = tmp_path / "tenants"
    write_tenant(folder.mkdir() or folder, "c-acme", {"limits": {"ocr": 3},
                                                      "workspaces": ["main"]})
    write_tenant(folder, "c-beta")
    first = admin(server.base, "apply", str(folder))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["c-acme: created", "c-beta: created"]
    assert stored(server, "c-acme").json()["limits"] == {"ocr": 3}

    planned = admin(server.base, "apply", str(folder), "--dry-run")
    assert planned.returncode == 0 and "dry run, nothing written" in planned.stderr
    assert planned.stdout.splitlines() == ["c-acme: unchanged", "c-beta: unchanged"]

    write_tenant(folder, "c-acme", {"limits": {"ocr": 4}, "workspaces": ["main"]})
    second = admin(server.base, "apply", str(folder))
    assert second.stdout.splitlines() == ["c-acme: updated: limits", "c-beta: unchanged"]

    shown = admin(server.base, "audit", "--tenant", "c-acme")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 2 and " update " in f" {lines[0]} " and "limits" in lines[0]
    assert fingerprint(KEYS[1]) in lines[0] and " create " in f" {lines[1]} "


def test_a_bad_folder_writes_nothing_and_names_file_and_field(server, tmp_path):
    folder = tmp_path / "tenants"
    home = write_tenant(folder.mkdir() or folder, "c-bad", {"limits": {"ocr": -1}})
    write_tenant(folder, "c-fine")
    refused = admin(server.base, "apply", str(folder))  # refused by the server's schema
    assert refused.returncode == 1
    assert f"{home / 'tenant.yaml'}: limits.ocr.value:" in refused.stderr
    assert "nothing written" in refused.stderr
    (home / "tenant.yaml").write_text("limits: [\n")  # refused here, before any request
    unread = admin(server.base, "apply", str(folder))
    assert unread.returncode == 1 and f"{home / 'tenant.yaml'}: invalid YAML" in unread.stderr
    assert stored(server, "c-bad").status_code == 404
    assert stored(server, "c-fine").status_code == 404


def test_a_wrong_key_is_refused(server, tmp_path):
    folder = tmp_path / "tenants"
    write_tenant(folder.mkdir() or folder, "c-nokey")
    result = admin(server.base, "apply", str(folder), key="not-a-key")
    assert result.returncode == 1 and "HTTP 401 unauthorized" in result.stderr
    assert admin(server.base, "audit", key="not-a-key").returncode == 1
    assert stored(server, "c-nokey").status_code == 404

"""Purge means gone, against a real gunicorn (2 workers): a tenant created again with the
same id, or a new tenant pointed at the same directories, starts empty; a purge cut short
by a crash is finished (or undone) when the server starts again."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.serving_state import ADMIN, ENV, files, wait_upload
from tests.support.server import ROOT, running_server

pytestmark = pytest.mark.gunicorn

OLD = b"bytes of the tenant before the purge"


def create(server, tenant: str, body: dict | None = None) -> dict:
    response = server.put(f"/admin/tenants/{tenant}", json=body or {}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def upload(server, tenant: str, content: bytes = OLD) -> str:
    response = server.post(f"/t/{tenant}/uploads", files={"file": ("old.txt", content)})
    assert response.status_code == 202, response.text
    assert wait_upload(server, response.headers["Location"])["state"] == "done"
    return response.json()["id"]


def with_exam(root: Path, tenant: str) -> None:
    manifest = root / tenant / "data" / "exams" / "OLD" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"exam_id": "OLD"}))


def purge(server, tenant: str) -> dict:
    response = server.delete(f"/admin/tenants/{tenant}?purge=1", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def assert_starts_empty(server, tenant: str, old_upload: str) -> None:
    for _ in range(4):  # both workers
        status = server.get(f"/t/{tenant}/uploads/{old_upload}")
        assert status.status_code == 404, status.text
        assert status.json() == {"error": "unknown_upload"}
        assert server.get(f"/t/{tenant}/exams").json()["exams"] == []


def test_a_tenant_created_again_after_a_purge_starts_empty(server, root):
    create(server, "p1")
    with_exam(root, "p1")
    old_upload = upload(server, "p1")
    answer = purge(server, "p1")
    assert answer == {"tenant_id": "p1", "enabled": False, "purged": True,
                      "removed": [str(root / "p1" / "data"), str(root / "p1" / "uploads")]}
    assert not (root / "p1").exists()
    assert not list(root.glob(".purged-*"))
    create(server, "p1")
    assert_starts_empty(server, "p1", old_upload)
    assert files(root / "p1") == {"data": "dir", "uploads": "dir"}


def test_a_new_tenant_pointed_at_a_purged_tenants_directories_starts_empty(server, root):
    create(server, "p2")
    with_exam(root, "p2")
    old_upload = upload(server, "p2")
    purge(server, "p2")
    create(server, "heir", {"data_dir": "p2/data", "uploads_dir": "p2/uploads"})
    assert_starts_empty(server, "heir", old_upload)


def test_a_purge_removes_nothing_another_tenant_holds(server, root):
    create(server, "p3")
    create(server, "lodger", {"data_dir": "p3/lodger-data", "uploads_dir": "p3/lodger-up"})
    with_exam(root, "p3")
    kept = upload(server, "lodger", b"the lodger's own")
    before = files(root / "p3" / "lodger-up")
    assert purge(server, "p3")["removed"] == [str(root / "p3" / "data"),
                                              str(root / "p3" / "uploads")]
    assert files(root / "p3" / "lodger-up") == before
    assert server.get(f"/t/lodger/uploads/{kept}").json()["state"] == "done"
    assert sorted(p.name for p in (root / "p3").iterdir()) == ["lodger-data", "lodger-up"]


# -- a purge cut short by a crash ----------------------------------------------------------------
CRASH = """
import os, sys
from app import create_app
from app.tenants import purge
from app.services import services_of

point = sys.argv[1]
app = create_app()
store = services_of(app).store
if point == "before-commit":  # directories moved aside, the deletion not yet committed
    keep = store.db.on_commit
    store.db.on_commit = lambda action: (
        os._exit(9) if isinstance(getattr(action, "__self__", None), purge.Quarantine)
        else keep(action))
else:  # deletion committed, directories not yet deleted
    purge.Quarantine.remove = lambda self: os._exit(9)
with app.app_context():
    purge.purge_tenant(store, services_of(app).settings.data_root, "crashy", "cli")
"""


def crash_in_a_purge(sandbox: Path, point: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "TENANT_DB_PATH": str(sandbox / "store" / "tenants.sqlite3"),
           "TENANT_DATA_ROOT": str(sandbox / "tenants")}
    result = subprocess.run([sys.executable, "-c", CRASH, point], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 9, result.stderr


@pytest.mark.parametrize("point, record_kept", [("before-commit", True),
                                                ("after-commit", False)])
def test_a_purge_cut_short_by_a_crash_is_settled_at_the_next_start(tmp_path, point,
                                                                   record_kept):
    root = tmp_path / "tenants"
    with running_server(tmp_path, workers=2, env=ENV) as server:
        create(server, "crashy")
        with_exam(root, "crashy")
        old_upload = upload(server, "crashy")
    before = files(root / "crashy")
    crash_in_a_purge(tmp_path, point)
    assert not (root / "crashy" / "data").exists()  # moved aside
    assert len(list(root.glob(".purged-*"))) == 1
    with running_server(tmp_path, workers=2, env=ENV) as server:
        assert not list(root.glob(".purged-*"))
        shown = server.get("/admin/tenants/crashy", headers=ADMIN)
        if record_kept:  # the purge never happened: all of it is back
            assert shown.status_code == 200
            assert files(root / "crashy") == before
            assert server.get(f"/t/crashy/uploads/{old_upload}").json()["state"] == "done"
        else:  # the purge happened: its directories are gone too
            assert shown.status_code == 404
            assert not (root / "crashy").exists()
            create(server, "crashy")
            assert_starts_empty(server, "crashy", old_upload)

"""The testing kit (contract sec. 16): a team's suite, written as docs/tenant-routes.md
shows, passes in a folder outside this repository using only the plugin's fixtures."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "tenant-routes.md"
FILE_BLOCK = re.compile(r"```python\n# file: (?P<name>[\w.]+)\n(?P<code>.*?)```", re.S)
RUN_SECONDS = 180


def team_files() -> dict[str, str]:
    """The files the guide tells a team to write, by name."""
    return {m["name"]: m["code"] for m in FILE_BLOCK.finditer(GUIDE.read_text("utf-8"))}


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    # The machine's Tenantgate settings and this repository stay out of the team's run:
    # it finds Tenantgate as an installed package, and the plugin by its entry point.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TENANT", "PYTEST", "PYTHONPATH", "DEFAULT_TENANT"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(folder), *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=RUN_SECONDS)


@pytest.fixture
def team_folder(tmp_path) -> Path:
    folder = tmp_path / "grading-team"
    assert not folder.resolve().is_relative_to(ROOT)
    folder.mkdir()
    for name, code in team_files().items():
        (folder / name).write_text(code, encoding="utf-8")
    return folder


def test_the_guide_names_a_module_and_its_tests():
    assert set(team_files()) == {"grading.py", "test_grading.py"}


def test_a_team_suite_passes_with_only_the_plugin(team_folder):
    result = run_pytest(team_folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b4 passed\b", result.stdout), result.stdout
    assert list(team_folder.glob("conftest.py")) == []


def test_the_kit_fails_a_team_test_that_is_wrong(team_folder):
    # The kit test could pass by running nothing: a wrong expectation must fail there.
    (team_folder / "test_wrong.py").write_text(
        "def test_wrong(tenantgate_client, make_tenant):\n"
        "    make_tenant('acme')\n"
        "    assert tenantgate_client.get('/t/acme/health').status_code == 404\n",
        encoding="utf-8")
    result = run_pytest(team_folder, "test_wrong.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout


def test_the_fixtures_give_keys_and_a_fresh_store(team_folder):
    (team_folder / "test_kit.py").write_text('''
import pytest


def test_keys(tenantgate_client, make_tenant):
    record = make_tenant("acme", extra={"k": 1})
    assert record.tenant_id == "acme" and record.extra == {"k": 1}
    listed = tenantgate_client.get("/admin/tenants", headers={"X-Admin-Key": "test-admin-key"})
    assert [t["tenant_id"] for t in listed.json["tenants"]] == ["acme"]
    assert tenantgate_client.get("/admin/tenants").status_code == 401
    ready = tenantgate_client.post("/tenant/acme/set_ready", json={"ready": True},
                                   headers={"X-API-Key": "test-api-key"})
    assert ready.status_code == 200


def test_a_fresh_store_each_time(tenantgate_client):
    listed = tenantgate_client.get("/admin/tenants", headers={"X-Admin-Key": "test-admin-key"})
    assert listed.json["tenants"] == []


def test_bad_fields_are_refused_as_the_admin_api_refuses_them(make_tenant):
    from marshmallow import ValidationError

    with pytest.raises(ValidationError, match="colour"):
        make_tenant("acme", colour="blue")
    with pytest.raises(ValidationError, match="hosts"):
        make_tenant("acme", hosts=["a.example", "a.example"])
''', encoding="utf-8")
    result = run_pytest(team_folder, "test_kit.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout

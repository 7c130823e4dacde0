"""An apply killed half-way (the process dies inside a tenant's transaction) leaves every
tenant as it was or as its folder says; applying the folder again converges."""
from __future__ import annotations

import subprocess
import sys

from app.services import services_of
from tests.support.tenant_folders import audit, stored, write_tenant
from tests.support.server import ROOT

# Dies inside the third tenant's transaction: its row and audit entry written, not committed.
CRASH = """
import os, sys
from app import create_app
from app.services import services_of

app = create_app()
store = services_of(app).store
keep, calls = store.audit.record, []
def record(*args, **kwargs):
    keep(*args, **kwargs)
    calls.append(args)
    if len(calls) == 3:
        os._exit(9)
store.audit.record = record
result = app.test_cli_runner().invoke(args=["tenants", "apply", sys.argv[1]])
print(result.output, result.exception, file=sys.stderr)
sys.exit(3)  # not reached: the crash comes first
"""


def crash_in_an_apply(app, folder) -> None:
    settings = services_of(app).settings
    env = {"PATH": "/usr/bin:/bin", "TENANT_DB_PATH": settings.db_path,
           "TENANT_DATA_ROOT": settings.data_root, "DEFAULT_TENANT": "",
           "MAX_TENANT_LABELS": str(settings.max_tenant_labels),
           "STORAGE_RESERVE_BYTES": str(settings.storage_reserve_bytes)}
    if settings.db_url:
        env["TENANT_DB_URL"] = settings.db_url
    result = subprocess.run([sys.executable, "-c", CRASH, str(folder)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 9, result.stderr


def test_reapplying_after_a_crash_mid_apply_converges(app, runner, store, folder):
    write_tenant(folder, "acme", {"limits": {"ocr": 2}})
    assert runner.invoke(args=["tenants", "apply", str(folder)]).exit_code == 0
    for tenant in ("beta", "gamma", "delta"):
        write_tenant(folder, tenant, {"extra": {"name": tenant}})
    write_tenant(folder, "acme", {"limits": {"ocr": 3}})  # sorted first: updated, then b, d

    crash_in_an_apply(app, folder)
    # acme and beta committed; delta died inside its transaction; gamma never began.
    assert sorted(stored(store)) == ["acme", "beta"]
    assert stored(store)["acme"]["limits"] == {"ocr": 3}
    assert [e[:2] for e in audit(store)] == [("create", "acme"), ("update", "acme"),
                                             ("create", "beta")]

    again = runner.invoke(args=["tenants", "apply", str(folder)])
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["acme: unchanged", "beta: unchanged",
                                         "delta: created", "gamma: created"]
    assert {t: c["extra"] for t, c in stored(store).items()} == {
        "acme": {}, "beta": {"name": "beta"}, "delta": {"name": "delta"},
        "gamma": {"name": "gamma"}}
    assert [e[:2] for e in audit(store)][3:] == [("create", "delta"), ("create", "gamma")]
    final = runner.invoke(args=["tenants", "apply", str(folder)])
    assert set(final.stdout.splitlines()) == {f"{t}: unchanged"
                                              for t in ("acme", "beta", "delta", "gamma")}

"""``flask tenants list|show|put|disable|purge``: plain output, exit codes, the HTTP rules."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.admin.helpers import CAP, metric, snapshot
from tests.support.server import ROOT


def tenants(runner, *args, input=None):
    return runner.invoke(args=["tenants", *args], input=input)


def ok(result):
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def failed(result, message):
    assert result.exit_code != 0
    assert result.stdout.strip() == "" or "[y/N]" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def test_list_without_tenants_says_so(runner):
    assert ok(tenants(runner, "list")) == "no tenants\n"


def test_put_creates_then_updates(runner, root):
    out = ok(tenants(runner, "put", "acme", "--host", "Acme.Example:8080", "--limit", "ocr=3",
                     "--extra", '{"plan": "gold"}'))
    first, _, rest = out.partition("\n")
    assert first == "created tenant acme"
    record = json.loads(rest)
    assert record["hosts"] == ["acme.example"] and record["limits"] == {"ocr": 3}
    assert record["extra"] == {"plan": "gold"} and record["enabled"] is True
    assert record["data_dir"] == str(root / "acme" / "data")
    out = ok(tenants(runner, "put", "acme", "--disabled", "--data-dir", "acme/v2"))
    first, _, rest = out.partition("\n")
    assert first == "updated tenant acme"
    assert json.loads(rest)["enabled"] is False
    assert json.loads(rest)["data_dir"] == str(root / "acme" / "v2")


def test_put_declares_workspaces_and_the_audit_names_the_cli(runner, store):
    out = ok(tenants(runner, "put", "acme", "--workspace", "main", "--workspace", "exams"))
    assert json.loads(out.partition("\n")[2])["workspaces"] == ["main", "exams"]
    assert failed(tenants(runner, "put", "acme", "--workspace", "Bad"), "invalid options")
    ok(tenants(runner, "put", "acme"))
    assert store.tenants.get("acme").workspaces is None  # a put replaces: any workspace
    ok(tenants(runner, "purge", "acme", "--yes"))
    assert [(e.action, e.fields, e.actor) for e in reversed(store.audit.entries("acme"))] == [
        ("create", ["workspaces"], "cli"), ("update", ["workspaces"], "cli"),
        ("purge", [], "cli")]


def test_list_prints_a_plain_table(runner):
    ok(tenants(runner, "put", "acme", "--host", "acme.example", "--host", "www.acme.example"))
    ok(tenants(runner, "put", "beta", "--disabled"))
    lines = ok(tenants(runner, "list")).splitlines()
    assert lines[0].split() == ["TENANT_ID", "ENABLED", "HOSTS", "DATA_DIR"]
    assert lines[1].split()[:3] == ["acme", "yes", "acme.example,www.acme.example"]
    assert lines[2].split()[:3] == ["beta", "no", "-"]
    assert lines[3] == "2 tenant(s)"
    assert len(lines) == 4


def test_show_prints_the_tenant_as_json(runner):
    ok(tenants(runner, "put", "acme", "--limit", "llm_total=7"))
    record = json.loads(ok(tenants(runner, "show", "acme")))
    assert record["tenant_id"] == "acme" and record["limits"] == {"llm_total": 7}


def test_disable_keeps_the_record(runner, store):
    ok(tenants(runner, "put", "acme"))
    assert ok(tenants(runner, "disable", "acme")) == "disabled tenant acme\n"
    assert store.tenants.get("acme").enabled is False


def test_purge_with_yes_removes_the_record(runner, store, root):
    ok(tenants(runner, "put", "acme", "--host", "acme.example"))
    (root / "acme" / "uploads" / "old.bin").write_bytes(b"old")
    assert ok(tenants(runner, "purge", "acme", "--yes")) == "purged tenant acme\n"
    assert store.tenants.get("acme") is None
    assert store.tenants.tenant_for_host("acme.example") is None
    assert list(root.iterdir()) == []  # its directories went with it


def test_purge_confirmed_interactively(runner, store):
    ok(tenants(runner, "put", "acme"))
    result = tenants(runner, "purge", "acme", input="y\n")
    assert result.exit_code == 0
    assert result.stdout.endswith("purged tenant acme\n")
    assert store.tenants.get("acme") is None


@pytest.mark.parametrize("answer", ["n\n", "\n", "no\n"])
def test_purge_not_confirmed_changes_nothing(runner, store, answer):
    ok(tenants(runner, "put", "acme"))
    before = snapshot(store)
    result = tenants(runner, "purge", "acme", input=answer)
    failed(result, "not confirmed; nothing changed")
    assert "Purge tenant acme? [y/N]" in result.stdout
    assert snapshot(store) == before


FAILURES = {
    "show unknown": (("show", "nobody"), "unknown tenant nobody"),
    "disable unknown": (("disable", "nobody"), "unknown tenant nobody"),
    "purge unknown": (("purge", "nobody", "--yes"), "unknown tenant nobody"),
    "bad id": (("put", "Acme"), "invalid tenant id 'Acme'"),
    "bad id with dots": (("show", ".."), "invalid tenant id"),
    "bad id in purge": (("purge", "a_b", "--yes"), "invalid tenant id"),
    "path outside root": (("put", "beta", "--data-dir", "/etc"),
                          'path_outside_data_root (field="data_dir")'),
    "dot dot": (("put", "beta", "--uploads-dir", "../x"),
                'path_outside_data_root (field="uploads_dir")'),
    "limit not a number": (("put", "beta", "--limit", "ocr=x"), "--limit takes NAME=N"),
    "limit zero": (("put", "beta", "--limit", "ocr=0"), "invalid options"),
    "limit over 10000": (("put", "beta", "--limit", "ocr=10001"), "invalid options"),
    "limit past 2**63": (("put", "beta", "--limit", "ocr=9223372036854775808"),
                         "invalid options"),
    "too many named limits": (("put", "beta", *(f"--limit=extra_{i}=1" for i in range(13))),
                              "At most 16 named limits"),
    "extra too deep": (("put", "beta", "--extra", '{"a": ' * 40 + "{}" + "}" * 40),
                       "levels deep"),
    "bad host": (("put", "beta", "--host", "bad host!"), "invalid options"),
    "extra not an object": (("put", "beta", "--extra", "[1]"), "--extra must be a JSON object"),
    "host taken": (("put", "beta", "--host", "ACME.example"),
                   'host_taken (host="acme.example")'),
    "directory in use": (("put", "beta", "--data-dir", "acme/data/x"),
                         'directory_in_use (field="data_dir")'),
}


@pytest.mark.parametrize("args,message", FAILURES.values(), ids=FAILURES.keys())
def test_failure_exits_non_zero_with_an_error_line(runner, store, args, message):
    ok(tenants(runner, "put", "acme", "--host", "acme.example"))
    before = snapshot(store)
    failed(tenants(runner, *args), message)
    assert snapshot(store) == before


def test_cap_reached_is_refused_and_counted(runner, client, store):
    for i in range(CAP):
        ok(tenants(runner, "put", f"t{i}"))
    before = snapshot(store)
    failed(tenants(runner, "put", "one-more"), f"label_cardinality_limit (limit={CAP})")
    failed(tenants(runner, "put", "two-more"), f"label_cardinality_limit (limit={CAP})")
    assert snapshot(store) == before
    assert metric(client, "tenant_label_rejections_total") == 2
    assert metric(client, "tenant_labels_active") == CAP
    # An update at the cap is not a new label.
    assert ok(tenants(runner, "put", "t0", "--disabled")).startswith("updated tenant t0")


def test_the_cli_leaves_nothing_in_the_temporary_folder(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(temporary),
           "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
           "TENANT_DATA_ROOT": str(tmp_path / "tenants")}
    for args in (["list"], ["put", "acme", "--limit", "ocr=2"], ["show", "acme"],
                 ["disable", "acme"], ["purge", "acme", "--yes"]):
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "tenants",
                                 *args], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        assert list(temporary.iterdir()) == [], args

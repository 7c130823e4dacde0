"""alerts/ against the app: every metric name an alert rule or the dashboard uses is
exported by a real app, every exported family is used (or allowed unused, with a
reason), and promtool checks and unit-tests the rules (contract sec. 9)."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.runtime.context import current_tenant
from tests.operations.promql import as_plain_promql, grafana_query, metric_names
from tests.support.metrics_text import scrape, value, wait_for_metric
from tests.support.polling import poll
from tests.support.server import running_server

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.yml"))
RULE_TESTS = sorted((ALERTS / "tests").glob("*.yml"))
DASHBOARD = ALERTS / "dashboards" / "tenantgate.json"
RUNBOOK = ROOT / "docs" / "runbook.md"

ADMIN = {"X-Admin-Key": "k"}
API = {"X-API-Key": "a"}
SEVERITIES = {"critical", "warning", "info"}

# Exported families that no alert and no dashboard panel uses, each with its reason.
# The test fails when this list and reality differ in either direction.
UNUSED_ALLOWED = {
    "flask_http_request_total": "no route label; flask_http_request_duration_seconds_count "
                                "has the same counts by route",
}

# The series names each kind of family exposes (text format 0.0.4, prometheus_client).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": "k", "TENANT_API_KEY": "a", "CHAOS_ENABLED": 1,
            "TENANT_READINESS_HISTOGRAM": 1, "MAX_TENANT_LABELS": 2}


# --- what the app exports -------------------------------------------------------------------

def hold_and_refuse(app, client) -> None:
    """Hold acme's only ocr permit from another thread; a second hold is refused with 429."""
    holder = app.test_client()
    held: dict[str, int] = {}

    def hold():
        held["status"] = holder.post("/t/acme/chaos/hold/ocr?ms=3000").status_code

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        # The holder took acme's ocr permit, within its hold of 3 s.
        wait_for_metric(client, 1, "tenant_limit_inflight", seconds=2.5, tenant="acme",
                        limit="ocr")
        assert value(scrape(client), "global_limit_inflight", limit="ocr") == 1
        refused = client.post("/t/acme/chaos/hold/ocr?ms=0")
        assert refused.status_code == 429
        assert refused.json == {"error": "concurrency_limit", "scope": "tenant", "limit": "ocr"}
    finally:
        thread.join()
    assert held["status"] == 200


def upload_and_wait(client) -> None:
    """Upload 100 bytes to acme and wait until they are processed: processing takes acme's
    ocr permit, which hold_and_refuse needs to itself."""
    upload = client.post("/t/acme/uploads", data={"file": (io.BytesIO(b"x" * 100), "a.txt")})
    assert upload.status_code == 202
    state = poll(lambda: client.get(upload.headers["Location"]).json["state"],
                 lambda state: state == "done")
    assert state == "done", "the upload was never processed"


def exercise(app, client) -> str:
    """Drive every metric the app has, then scrape."""
    put = client.put("/admin/tenants/acme", json={"limits": {"ocr": 1},
                                                  "quota": {"upload_bytes": 4096},
                                                  "budget": {"daily_cap_usd": 1}}, headers=ADMIN)
    assert put.status_code == 201
    upload_and_wait(client)
    for ready in (False, True):
        answer = client.post("/tenant/beta/set_ready", json={"ready": ready}, headers=API)
        assert answer.status_code == 200
    cap = client.put("/admin/tenants/gamma", json={}, headers=ADMIN)  # MAX_TENANT_LABELS=2
    assert cap.status_code == 429
    assert client.get("/readyz?verbose=1").status_code == 200
    assert client.get("/readyz/store").status_code == 200
    assert client.get("/tenant/acme/readyz").status_code == 200
    assert client.get("/tenant/beta/readyz").status_code == 200
    assert client.get("/t/acme/health").status_code == 200
    assert client.get("/t/acme/exams").status_code == 200
    assert client.post("/admin/tenants/acme/recheck", headers=ADMIN).status_code == 200
    hold_and_refuse(app, client)
    assert client.post("/t/acme/chaos/spend?usd=0.5&ms=0").status_code == 200
    assert client.post("/t/acme/chaos/spend?usd=0.6&ms=0").status_code == 429
    with app.app_context():
        current_tenant("test_alert_alignment")  # no context: falls back and counts it
    text = scrape(client)
    assert value(text, "readiness_state") == 1
    assert value(text, "tenant_label_rejections_total") == 1
    assert value(text, "tenant_labels_active") == 2
    assert value(text, "tenant_readiness_transitions_total", tenant="beta") == 2
    assert value(text, "tenant_limit_rejections_total",
                 tenant="acme", limit="ocr", scope="tenant") == 1
    assert value(text, "tenant_readiness_check_duration_seconds_count", tenant="acme") == 1
    assert value(text, "tenant_upload_bytes", tenant="acme") == 100
    assert value(text, "tenant_upload_quota_bytes", tenant="acme") == 4096
    assert value(text, "storage_reserve_bytes") == 1 << 20  # the test apps' reserve
    assert (value(text, "storage_free_bytes") or 0) > 1 << 20  # the upload was accepted
    assert value(text, "tenancy_fallback_total", tenant="default", workspace="main",
                 component="test_alert_alignment") == 1
    assert value(text, "tenant_spend_usd_total", tenant="acme") == 0.5
    assert value(text, "tenant_budget_remaining_usd", tenant="acme") == 0.5
    assert value(text, "tenant_budget_rejections_total", tenant="acme", scope="daily") == 1
    return text


def exported_families(text: str) -> dict[str, dict]:
    """{family name as exposed: {"series": names it may use, "observed": has samples}}."""
    parsed = list(text_string_to_metric_families(text))
    with_created = {f.name for f in parsed if "_created" in _SUFFIXES.get(f.type, ())}
    families = {}
    for family in parsed:
        if family.name.endswith("_created") and family.name[:-len("_created")] in with_created:
            continue  # the text format shows <name>_created apart; it belongs to <name>
        suffixes = _SUFFIXES.get(family.type, ("",))
        shown = family.name + ("_total" if family.type == "counter" else "")
        families[shown] = {"series": {family.name + s for s in suffixes},
                           "observed": bool(family.samples)}
    return families


# --- what alerts/ uses ----------------------------------------------------------------------

def load_rules() -> list[dict]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                rules.append({**rule, "file": path.relative_to(ROOT).as_posix()})
    return rules


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((f"dashboard panel {panel['title']!r}", target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            query = query.get("query", "") if isinstance(query, dict) else query
            promql = grafana_query(query)
            if promql:
                found.append((f"dashboard variable ${variable['name']}", promql))
    return found


def used_names() -> dict[str, set[str]]:
    """{metric or recording rule name: where it is used}."""
    used: dict[str, set[str]] = {}
    sources = [(f"{r['file']} {r.get('alert') or r.get('record')}", r["expr"])
               for r in load_rules()]
    for where, expr in sources + dashboard_queries():
        for name in metric_names(expr):
            used.setdefault(name, set()).add(where)
    return used


def recorded_names() -> set[str]:
    return {rule["record"] for rule in load_rules() if "record" in rule}


# --- (a) alignment with a real app ----------------------------------------------------------

def not_exported(families: dict[str, dict]) -> dict[str, list[str]]:
    """{name used in alerts/ that is neither exported nor a recording rule: where}."""
    exported = {series for fam in families.values() for series in fam["series"]}
    recorded = recorded_names()
    return {name: sorted(where) for name, where in used_names().items()
            if name not in exported and name not in recorded}


def report(missing: dict[str, list[str]]) -> str:
    return "metric names used but not exported by the app:\n" + "\n".join(
        f"  {name}: {', '.join(where)}" for name, where in sorted(missing.items()))


def test_alerts_and_dashboard_use_only_exported_metrics(app, client):
    families = exported_families(exercise(app, client))
    missing = not_exported(families)
    assert not missing, report(missing)
    exported = {series: name for name, fam in families.items() for series in fam["series"]}
    used = used_names()
    silent = sorted({exported[name] for name in used if name in exported}
                    - {name for name, fam in families.items() if fam["observed"]})
    assert not silent, f"used families without a single sample after the exercise: {silent}"


def test_every_exported_family_is_used_or_allowed(app, client):
    families = exported_families(exercise(app, client))
    owner = {series: name for name, fam in families.items() for series in fam["series"]}
    used = {owner[name] for name in used_names() if name in owner}
    unused = sorted(set(families) - used)
    print("exported metric families that no alert or dashboard uses:", unused)
    assert unused == sorted(UNUSED_ALLOWED), (
        f"unused families {unused} differ from UNUSED_ALLOWED {sorted(UNUSED_ALLOWED)}: "
        "use the new family in alerts/ or allow it with a reason; drop allowances now used")


# Multiprocess mode shows a per-process family only once it has a sample, and no HTTP
# request can make this one count (a fallback needs code outside any tenant context).
NO_SAMPLE_UNDER_GUNICORN = {"tenancy_fallback_total"}


@pytest.mark.gunicorn
def test_names_hold_under_gunicorn(tmp_path):
    """The same check against what Prometheus scrapes in production: two workers,
    prometheus_client's multiprocess files plus the scrape-time collectors."""
    env = {"TENANT_ADMIN_KEY": "k", "TENANT_API_KEY": "a", "CHAOS_ENABLED": "1",
           "TENANT_READINESS_HISTOGRAM": "1", "MAX_TENANT_LABELS": "2"}
    with running_server(tmp_path, env=env) as server:
        put = server.put("/admin/tenants/acme", json={"limits": {"ocr": 1}}, headers=ADMIN)
        assert put.status_code == 201
        ready = server.post("/tenant/beta/set_ready", json={"ready": False}, headers=API)
        assert ready.status_code == 200
        assert server.put("/admin/tenants/gamma", json={}, headers=ADMIN).status_code == 429
        for path in ("/readyz", "/tenant/acme/readyz", "/t/acme/health"):
            assert server.get(path).status_code == 200
        holder = threading.Thread(target=server.post, args=("/t/acme/chaos/hold/ocr?ms=3000",))
        holder.start()
        try:
            # The holder took acme's ocr permit, within its hold of 3 s.
            wait_for_metric(server, 1, "tenant_limit_inflight", seconds=2.5, tenant="acme",
                            limit="ocr")
            assert server.post("/t/acme/chaos/hold/ocr?ms=0").status_code == 429
        finally:
            holder.join()
        text = server.get("/metrics").text
    missing = not_exported(exported_families(text))
    assert set(missing) <= NO_SAMPLE_UNDER_GUNICORN, report(missing)


# --- the rule files themselves --------------------------------------------------------------

def runbook_anchors() -> set[str]:
    """GitHub's anchors for the headings of docs/runbook.md."""
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            anchors.add(re.sub(r"[^\w\- ]", "", heading[1].lower()).replace(" ", "-"))
    return anchors


def test_every_alert_has_severity_summary_description_and_a_runbook_section():
    anchors = runbook_anchors()
    alerts = [r for r in load_rules() if "alert" in r]
    assert alerts
    problems = []
    for alert in alerts:
        name = alert["alert"]
        if alert.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: labels.severity must be one of {sorted(SEVERITIES)}")
        annotations = alert.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: annotations.{key} is missing")
        url = str(annotations.get("runbook_url", ""))
        page, _, anchor = url.partition("#")
        if page != "docs/runbook.md" or anchor not in anchors:
            problems.append(f"{name}: runbook_url {url!r} has no heading in docs/runbook.md")
    names = [a["alert"] for a in alerts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"alert names used twice: {duplicates}"
    assert not problems, "\n".join(problems)


def test_recording_rules_follow_the_level_metric_operations_convention():
    bad = sorted(name for name in recorded_names()
                 if not re.fullmatch(r"tenantgate:[a-z0-9_]+:[a-z0-9_]+", name))
    assert not bad, f"recording rules not named tenantgate:<metric>:<operations>: {bad}"


def test_every_alert_has_a_firing_and_a_quiet_promtool_case():
    cases: dict[str, dict[str, int]] = {}
    for path in RULE_TESTS:
        spec = yaml.safe_load(path.read_text())
        for rule_file in spec["rule_files"]:
            assert (path.parent / rule_file).resolve() in [p.resolve() for p in RULE_FILES], \
                f"{path.name}: rule file {rule_file} is not one of alerts/*.yml"
        for test in spec["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "firing" if case.get("exp_alerts") else "quiet"
                counts = cases.setdefault(case["alertname"], {"firing": 0, "quiet": 0})
                counts[kind] += 1
    alerts = {r["alert"] for r in load_rules() if "alert" in r}
    lacking = sorted(f"{name} (firing: {cases.get(name, {}).get('firing', 0)}, "
                     f"quiet: {cases.get(name, {}).get('quiet', 0)})"
                     for name in alerts
                     if not all(cases.get(name, {}).get(kind) for kind in ("firing", "quiet")))
    assert not lacking, f"alerts without both a firing and a quiet promtool case: {lacking}"
    unknown = sorted(set(cases) - alerts)
    assert not unknown, f"promtool cases for alerts that do not exist: {unknown}"


# --- the extractor these tests rely on ------------------------------------------------------

@pytest.mark.parametrize("expr, names", [
    ('sum by (job, le) (rate(flask_http_request_duration_seconds_bucket{route="/t/<x>"}[5m]))',
     {"flask_http_request_duration_seconds_bucket"}),
    ("a_total unless on (job) (max by (job) (b) == 0) or c offset 15m",
     {"a_total", "b", "c"}),
    ("histogram_quantile(0.99, sum without (instance) (rate(x_bucket[$__rate_interval])))",
     {"x_bucket"}),
    ("absent(readiness_state) and on() vector(1) > 1e3", {"readiness_state"}),
    ('tenantgate:ratio:rate5m > (14.4 * 0.005) and {__name__="other_metric"}',
     {"tenantgate:ratio:rate5m", "other_metric"}),
    ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
    ("sum(x) by (tenant) / ignoring(limit) group_left (scope) y", {"x", "y"}),
])
def test_metric_names_are_read_out_of_promql(expr, names):
    assert metric_names(expr) == names


def test_grafana_variable_queries_keep_only_their_selector():
    assert grafana_query('label_values(tenant_readiness_state{job=~"$job"}, tenant)') == \
        'tenant_readiness_state{job=~"$job"}'
    assert grafana_query("label_values(job)") is None
    assert as_plain_promql('rate(x{job=~"$job", t=~"${tenant}"}[$__rate_interval])') == \
        'rate(x{job=~".*", t=~".*"}[5m])'


# --- (b) promtool ---------------------------------------------------------------------------

def require_promtool() -> str:
    """promtool's path; without it: skip on a developer's machine, fail under CI=true."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is not on PATH and CI=true: CI must install it "
                        "(Debian: apt-get install prometheus)")
        pytest.skip("promtool is not on PATH, so alerts/ is not checked: install it "
                    "(Debian: apt-get install prometheus); under CI=true this is a failure")
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_promtool_check_rules():
    promtool = require_promtool()
    assert RULE_FILES, "no alerts/*.yml"
    result = run(promtool, "check", "rules", *(str(p) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules():
    promtool = require_promtool()
    assert RULE_TESTS, "no alerts/tests/*.yml"
    result = run(promtool, "test", "rules", *(str(p) for p in RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_are_valid_promql(tmp_path):
    promtool = require_promtool()
    queries = dashboard_queries()
    assert queries
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for number, (_, query) in enumerate(queries):
        lines += [f"      - record: dashboard:query_{number}:check",
                  f"        expr: {json.dumps(as_plain_promql(query))}"]
    rules = tmp_path / "dashboard.rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    result = run(promtool, "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("ci, outcome", [
    ("true", pytest.fail.Exception),
    (None, pytest.skip.Exception),
    ("false", pytest.skip.Exception),
])
def test_missing_promtool_fails_only_under_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome):
        require_promtool()

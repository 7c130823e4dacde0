"""``flask tenants apply DIR``: a folder of tenants made the store's truth (contract sec. 15)."""
from __future__ import annotations

import pytest

from app.services import services_of
from tests.support.tenant_folders import CAP, audit, stored, write_tenant


def apply(runner, folder, *flags):
    return runner.invoke(args=["tenants", "apply", str(folder), *flags])


def lines(result) -> list[str]:
    return result.stdout.splitlines()


ACME = {"hosts": ["acme.example"], "limits": {"ocr": 3}, "workspaces": ["main", "exams"],
        "extra": {"plan": "gold"}}


def test_apply_creates_each_tenant_and_audits_it_as_the_cli(runner, store, folder):
    write_tenant(folder, "acme", ACME)
    write_tenant(folder, "beta")
    result = apply(runner, folder)
    assert result.exit_code == 0, result.output
    assert lines(result) == ["acme: created", "beta: created"]
    tenants = stored(store)
    assert tenants["acme"]["hosts"] == ["acme.example"]
    assert tenants["acme"]["limits"] == {"ocr": 3}
    assert tenants["acme"]["workspaces"] == ["main", "exams"]
    assert tenants["acme"]["extra"] == {"plan": "gold"} and tenants["beta"]["enabled"]
    assert audit(store) == [("create", "acme", ["extra", "hosts", "limits", "workspaces"], "cli"),
                            ("create", "beta", [], "cli")]
    assert "2 tenants: 2 created" in result.stderr


def test_reapplying_changes_nothing_and_an_edit_updates_only_its_fields(runner, store, folder):
    write_tenant(folder, "acme", ACME)
    write_tenant(folder, "beta")
    assert apply(runner, folder).exit_code == 0
    before, version = stored(store), store.version()

    again = apply(runner, folder)
    assert again.exit_code == 0 and lines(again) == ["acme: unchanged", "beta: unchanged"]
    assert stored(store) == before and store.version() == version
    assert len(audit(store)) == 2

    write_tenant(folder, "acme", {**ACME, "limits": {"ocr": 4}, "enabled": False})
    edited = apply(runner, folder)
    assert edited.exit_code == 0
    assert lines(edited) == ["acme: updated: enabled, limits", "beta: unchanged"]
    assert stored(store)["acme"]["limits"] == {"ocr": 4}
    assert not stored(store)["acme"]["enabled"]
    assert audit(store)[-1] == ("update", "acme", ["enabled", "limits"], "cli")


def test_a_dry_run_prints_the_plan_and_writes_nothing(runner, store, folder):
    write_tenant(folder, "acme", ACME)
    assert apply(runner, folder).exit_code == 0
    write_tenant(folder, "acme", {**ACME, "hosts": []})
    write_tenant(folder, "beta")
    before, version, entries = stored(store), store.version(), audit(store)

    result = apply(runner, folder, "--dry-run", "--prune")
    assert result.exit_code == 0, result.output
    assert lines(result) == ["acme: updated: hosts", "beta: created"]
    assert "dry run, nothing written" in result.stderr
    assert (stored(store), store.version(), audit(store)) == (before, version, entries)


def test_prune_disables_tenants_without_a_folder_and_never_purges(runner, store, folder):
    for tenant in ("acme", "beta", "gone"):
        write_tenant(folder, tenant)
    assert apply(runner, folder).exit_code == 0
    (folder / "gone" / "tenant.yaml").unlink()
    (folder / "gone").rmdir()

    without = apply(runner, folder)
    assert lines(without) == ["acme: unchanged", "beta: unchanged"]
    assert stored(store)["gone"]["enabled"]

    pruned = apply(runner, folder, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert lines(pruned) == ["acme: unchanged", "beta: unchanged", "gone: disabled (no folder)"]
    assert stored(store)["gone"]["enabled"] is False  # still there: its label and data stay
    assert audit(store, "gone")[-1] == ("disable", "gone", ["enabled"], "cli")
    assert lines(apply(runner, folder, "--prune")) == ["acme: unchanged", "beta: unchanged"]


def test_tenants_over_the_label_cap_are_reported_not_created(runner, store, folder):
    names = [f"t{i}" for i in range(CAP + 2)]
    for name in names:
        write_tenant(folder, name)
    planned = apply(runner, folder, "--dry-run")
    assert planned.exit_code == 1
    assert lines(planned)[-2:] == [
        f"{n}: not created: the label cap of {CAP} tenants (MAX_TENANT_LABELS) is reached"
        for n in names[CAP:]]
    assert stored(store) == {}

    result = apply(runner, folder)
    assert result.exit_code == 1
    assert lines(result)[:CAP] == [f"{n}: created" for n in names[:CAP]]
    assert all("not created: the label cap" in line for line in lines(result)[CAP:])
    assert sorted(stored(store)) == names[:CAP]
    assert store.tenants.label_rejections() == 2  # counted like any refused creation


INVALID = {
    "bad YAML": ("acme", "tenant.yaml", "hosts: [unclosed\n", "invalid YAML at line"),
    "unknown field": ("acme", "tenant.yaml", "colour: blue\n", "colour: Unknown field"),
    "negative limit": ("acme", "tenant.yaml", "limits: {ocr: -1}\n", "limits.ocr.value:"),
    "path outside the data root": ("acme", "tenant.yaml", "data_dir: /etc\n",
                                   "data_dir: must stay inside TENANT_DATA_ROOT"),
    "escaping relative path": ("acme", "tenant.yaml", "uploads_dir: ../../elsewhere\n",
                               "uploads_dir: must stay inside TENANT_DATA_ROOT"),
    "repeated key": ("acme", "tenant.yaml", "enabled: true\nenabled: false\n", "repeated key"),
    "alias": ("acme", "tenant.yaml", "extra: &x {a: 1}\nhosts: *x\n", "aliases"),
    "python tag": ("acme", "tenant.yaml", "extra: !!python/object:os.system {}\n",
                   "invalid YAML"),
    "bad workspace": ("acme", "tenant.yaml", "workspaces: [Main]\n", "workspaces[0]:"),
    "unknown routing field": ("acme", "routing.yaml", "models: [a]\n",
                              "routing.yaml: models: unknown field"),
    "misnamed file": ("acme", "budget.yaml", "daily_cap_usd: 1\n", "budget.yaml: unknown file"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_tree_writes_nothing_and_names_file_and_field(runner, store, folder, case):
    write_tenant(folder, "zeta")  # a valid tenant beside it is not created either
    tenant, name, text, expected = INVALID[case]
    home = write_tenant(folder, tenant)
    (home / name).write_text(text)
    result = apply(runner, folder)
    assert result.exit_code == 1
    problem = [line for line in result.stderr.splitlines() if expected in line]
    assert problem and problem[0].startswith(str(folder / tenant / name)), result.stderr
    assert "nothing written" in result.stderr and result.stdout == ""
    assert stored(store) == {} and audit(store) == []


def test_a_bad_tenant_id_and_a_stray_file_are_problems(runner, store, folder):
    write_tenant(folder, "Not_A_Label")
    (folder / "notes.txt").write_text("hello")
    (folder / ".git").mkdir()  # hidden entries are skipped
    result = apply(runner, folder)
    assert result.exit_code == 1
    assert f"{folder / 'Not_A_Label'}: not a valid tenant id" in result.stderr
    assert f"{folder / 'notes.txt'}: not a tenant folder" in result.stderr
    assert stored(store) == {}


def test_every_problem_is_reported_at_once(runner, store, folder):
    write_tenant(folder, "acme", {"limits": {"ocr": 0}})
    (write_tenant(folder, "beta") / "tenant.yaml").write_text("[1, 2]\n")
    write_tenant(folder, "gamma", {"hosts": ["shared.example"]})
    write_tenant(folder, "delta", {"hosts": ["shared.example"]})
    result = apply(runner, folder)
    assert result.exit_code == 1
    problems = result.stderr.splitlines()
    assert any(line.startswith(f"{folder / 'acme' / 'tenant.yaml'}: limits.ocr")
               for line in problems)
    assert any(line.startswith(f"{folder / 'beta' / 'tenant.yaml'}: must be a mapping")
               for line in problems)
    assert any("shared.example is also a host of" in line for line in problems)
    assert problems[-1].endswith("nothing written") and len(problems) == 4
    assert stored(store) == {}


def test_routing_and_budgets_go_through_the_admin_schema(runner, store, folder, app):
    """routing.yaml and budgets.yaml become ``models`` and ``budget``; a server whose admin
    schema has no such fields refuses them, naming the file, and writes nothing."""
    write_tenant(folder, "acme", routing={"allowed_models": ["model-a"]},
                 budgets={"daily_cap_usd": 5.0, "max_per_request": 0.5})
    result = apply(runner, folder)
    from app.admin.schemas import TenantPutSchema
    if "models" in TenantPutSchema().fields:
        assert result.exit_code == 0, result.output
        record = store.tenants.get("acme").as_dict()
        assert record["models"] == {"allowed": ["model-a"]}
        assert record["budget"] == {"daily_cap_usd": 5.0, "max_per_request_usd": 0.5}
        assert audit(store) == [("create", "acme", ["budget", "models"], "cli")]
        write_tenant(folder, "acme", budgets={"daily_cap_usd": 6})
        assert apply(runner, folder).stdout.splitlines() == ["acme: updated: budget"]
        assert store.tenants.get("acme").as_dict()["budget"] == {"daily_cap_usd": 6.0}
    else:
        assert result.exit_code == 1
        assert str(folder / "acme" / "routing.yaml") in result.stderr
        assert str(folder / "acme" / "budgets.yaml") in result.stderr
        assert stored(store) == {}


def test_a_missing_folder_is_one_line(runner, store, tmp_path):
    result = apply(runner, tmp_path / "nowhere")
    assert result.exit_code != 0 and stored(store) == {}


def test_a_host_taken_by_a_stored_tenant_fails_that_tenant_only(runner, store, folder, app):
    from app.tenants.registration import put_tenant
    with app.app_context():
        put_tenant(store, services_of(app).settings, "owner", {"hosts": ["taken.example"]},
                   "cli")
    write_tenant(folder, "acme", {"hosts": ["taken.example"]})
    write_tenant(folder, "beta")
    result = apply(runner, folder)
    assert result.exit_code == 1
    assert lines(result) == ["acme: not applied: host_taken, host=taken.example",
                             "beta: created"]
    assert sorted(stored(store)) == ["beta", "owner"]


def test_a_store_lost_mid_apply_stops_there_and_a_rerun_finishes(runner, store, folder,
                                                                 monkeypatch):
    from app.store import StoreUnavailable
    for tenant in ("acme", "beta", "gamma"):
        write_tenant(folder, tenant)
    keep, calls = store.tenants.upsert, []

    def upsert(record, max_labels):
        calls.append(record.tenant_id)
        if record.tenant_id == "beta":
            raise StoreUnavailable("connection lost")
        return keep(record, max_labels)

    monkeypatch.setattr(store.tenants, "upsert", upsert)
    cut = apply(runner, folder)
    assert cut.exit_code == 1 and lines(cut) == ["acme: created"]
    assert "store unavailable" in cut.stderr and "apply again" in cut.stderr
    assert calls == ["acme", "beta"]  # gamma was not tried
    monkeypatch.setattr(store.tenants, "upsert", keep)
    rerun = apply(runner, folder)
    assert lines(rerun) == ["acme: unchanged", "beta: created", "gamma: created"]

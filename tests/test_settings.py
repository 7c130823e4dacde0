"""Settings are validated at start-up; a bad value stops it with one line naming the variable."""
from __future__ import annotations

import subprocess
import sys

import pytest

from app import create_app
from app.settings import SettingsError, load_settings
from tests.support.server import ROOT, running_server


def test_defaults_match_the_contract():
    settings = load_settings(environ={})
    assert settings.db_path == "data/_system/tenants.sqlite3"
    assert settings.data_root == "data/tenants"
    assert settings.default_tenant == "default"
    assert settings.admin_keys == () and settings.api_keys == ()
    assert settings.max_tenant_labels == 100
    assert settings.limit_wait_seconds == 0
    assert settings.chaos_enabled is False
    assert settings.tenant_readiness_histogram is False
    assert settings.max_limits_per_tenant == 16
    assert settings.lease_seconds == 30
    assert dict(settings.llm_prices) == {}


def test_llm_prices_are_exact_decimals_by_model():
    prices = load_settings(environ={"LLM_PRICES": " model-a=2.5, b/c=0.000001 "}).llm_prices
    assert {k: str(v) for k, v in prices.items()} == {"model-a": "2.5", "b/c": "0.000001"}


def test_keys_are_comma_separated_for_rotation():
    settings = load_settings(environ={"TENANT_ADMIN_KEY": " old , new ,"})
    assert settings.admin_keys == ("old", "new")


def test_global_limits_are_read_by_name():
    settings = load_settings(environ={"GLOBAL_LIMIT_OCR": "3", "GLOBAL_LIMIT_GPU": "1"})
    assert settings.global_limits["ocr"] == 3
    assert settings.global_limits["gpu"] == 1


@pytest.mark.parametrize("name, raw", [
    ("MAX_TENANT_LABELS", "many"),
    ("MAX_TENANT_LABELS", "0"),
    ("MAX_TENANT_LABELS", "-5"),
    ("GLOBAL_LIMIT_OCR", "-1"),
    ("LIMIT_WAIT_SECONDS", "soon"),
    ("LIMIT_WAIT_SECONDS", "-1"),
    ("CHAOS_ENABLED", "yes"),
    ("TENANT_READINESS_HISTOGRAM", "2"),
    ("DEFAULT_TENANT", "Not_A_Label"),
    ("TENANT_DB_URL", "mysql://x"),
    ("LIMIT_BACKEND", "redis"),
    ("MAX_LIMITS_PER_TENANT", "lots"),
    ("MAX_LIMITS_PER_TENANT", "3"),  # fewer than the four default limits every tenant has
    ("LEASE_SECONDS", "0"),
    ("LEASE_SECONDS", "long"),
    ("LLM_PRICES", "model-a"),
    ("LLM_PRICES", "model-a=-1"),
    ("LLM_PRICES", "model-a=NaN"),
    ("LLM_PRICES", "=2"),
])
def test_bad_value_names_the_variable(name, raw):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={name: raw})
    assert str(caught.value).startswith(f"{name}: ")


def test_unwritable_db_path_is_a_settings_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SettingsError) as caught:
        create_app({"TENANT_DB_PATH": str(blocker / "tenants.sqlite3")})
    assert caught.value.name == "TENANT_DB_PATH"


def test_flask_cli_prints_one_line_for_a_bad_setting(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "routes"], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "MAX_TENANT_LABELS": "lots",
             "TENANT_DB_PATH": str(tmp_path / "s.sqlite3")},
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "MAX_TENANT_LABELS" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.gunicorn
def test_gunicorn_refuses_to_start_with_one_clear_line(tmp_path):
    with running_server(tmp_path, env={"MAX_TENANT_LABELS": "lots"}, wait=False) as server:
        code = server.process.wait(timeout=60)
        log = server.log()
    assert code != 0
    lines = [line for line in log.splitlines() if "MAX_TENANT_LABELS" in line]
    assert lines == ["tenantgate: bad setting MAX_TENANT_LABELS: must be an integer, got 'lots'"]
    assert "Traceback" not in log


def test_tenant_id_with_trailing_newline_is_refused():
    with pytest.raises(SettingsError):
        load_settings(environ={"DEFAULT_TENANT": "acme\n"})


def test_store_newer_than_the_code_is_one_settings_error(tmp_path):
    import sqlite3

    path = tmp_path / "s.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SettingsError) as caught:
        create_app({"TENANT_DB_PATH": str(path), "TENANT_DATA_ROOT": str(tmp_path / "t")})
    assert caught.value.name == "TENANT_DB_PATH"
    assert "newer" in str(caught.value)

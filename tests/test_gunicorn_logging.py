"""The gunicorn logger redacts every line: keys, key headers' values, key-like parameters."""
from __future__ import annotations

import logging

import pytest
from gunicorn.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st

from app.gunicorn_logging import _HEADER_VALUE, _QUERY_VALUE, REDACTED, RedactingLogger, redact

KEY = "adm-key-123456"
SECRETS = (KEY, "api-key-abcdef")


@pytest.mark.parametrize("line", [
    "Invalid HTTP Header: 'X-Admin-Key adm-key-123456'",  # a header line without a colon
    "Invalid HTTP Header: 'x-api-key\\tapi-key-abcdef'",
    "b'X-Admin-Key: adm-key-123456\\r\\nHost: x'",
    "GET /admin/tenants?key=adm-key-123456&x=1",
    "GET /admin/tenants?X-Admin-Key=adm-key-123456",
    "Authorization: Bearer not-a-configured-secret-9f8e",
    "Cookie: session=not-a-configured-secret-9f8e",
    "wrong-adm-key-123456-suffix",  # a configured key inside other text
])
def test_redact_removes_every_kind_of_secret(line):
    redacted = redact(line, SECRETS)
    assert REDACTED in redacted
    for secret in (*SECRETS, "not-a-configured-secret-9f8e"):
        assert secret not in redacted


def test_redact_leaves_ordinary_lines_alone():
    line = '127.0.0.1 "GET /t/acme/exams HTTP/1.1" 200 27 3ms'
    assert redact(line, SECRETS) == line


@pytest.fixture
def gunicorn_log(tmp_path, monkeypatch):
    """A RedactingLogger writing to files; the process-wide loggers are put back after."""
    monkeypatch.setenv("TENANT_ADMIN_KEY", KEY)
    root = logging.getLogger()
    saved = [(h, h.formatter) for h in root.handlers]
    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set("accesslog", str(tmp_path / "access.log"))
    logger = RedactingLogger(cfg)
    yield logger, tmp_path / "error.log"
    for log in (logger.error_log, logger.access_log):
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
    for handler in root.handlers[len(saved):]:
        root.removeHandler(handler)
    for handler, formatter in saved:
        handler.setFormatter(formatter)


def test_error_lines_and_tracebacks_are_written_redacted(gunicorn_log):
    logger, path = gunicorn_log
    logger.warning("Invalid request from ip=%s: %s", "127.0.0.1",
                   f"Invalid HTTP Header: 'X-Admin-Key {KEY}'")
    try:
        raise ValueError(f"bad header X-Admin-Key {KEY}")
    except ValueError:
        logger.exception("Error handling request /admin?key=%s", KEY)
    written = path.read_text()
    assert KEY not in written
    assert written.count(REDACTED) >= 3
    assert "Traceback" in written and "Invalid request from ip=127.0.0.1" in written


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(
    "xX-aAdDmMiInNkKeEyYpPuUtThHoOrRzZcCsS:= \t'\"\\?&;_0123456789"), max_size=60))
def test_redaction_shortcuts_change_no_line(line):
    full = _QUERY_VALUE.sub(lambda m: m.group(1) + REDACTED, _HEADER_VALUE.sub(
        lambda m: m.group(1) + m.group(2) + REDACTED, line))
    assert redact(line, ()) == full

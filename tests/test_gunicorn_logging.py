"""The gunicorn logger redacts every line: keys, key headers' values, key-like parameters."""
from __future__ import annotations

import datetime
import logging

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger, SafeAtoms
from hypothesis import given, settings
from hypothesis import strategies as st

from app.gunicorn_access import LazyAtoms
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


# --- access lines: only the atoms a format names, written as gunicorn writes them ---

class _Response:
    def __init__(self, status="200 OK", sent=58, headers=None):
        self.status, self.sent = status, sent
        self.headers = headers if headers is not None else [
            ("Content-Type", "application/json"), ("X-Quote", 'say "hi"')]


class _Request:
    headers = [("HOST", "127.0.0.1:8000"), ("USER-AGENT", 'curl/8 "x"'),
               ("X-TWICE", "first"), ("X-Twice", "second"), ("AUTHORIZATION", "Basic dTpw")]


ENVIRON = {"REQUEST_METHOD": "POST", "RAW_URI": "/t/acme/x?a=1", "PATH_INFO": "/t/acme/x",
           "QUERY_STRING": "a=1", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7",
           "HTTP_REFERER": 'http://r/"q"', "HTTP_USER_AGENT": "curl/8",
           "HTTP_AUTHORIZATION": "Basic dTpw", "wsgi.multithread": True, "Mixed_Case": "m",
           "NONE_VALUE": None}
DURATION = datetime.timedelta(seconds=1, microseconds=234567)
EVERY_ATOM = " ".join(f"%({atom})s" for atom in "hlutrsmUqHbBfaTDMLp")
BRACED = ('%({x-twice}i)s %({X-TWICE}I)s %({user-agent}i)s %({content-type}o)s '
          '%({x-quote}o)s %({remote_addr}e)s %({mixed_case}e)s %({none_value}e)s '
          '%({missing}i)s %({x}z)s %({)s %({}i)s %(nope)s %(H)s')


class _FixedClock(Logger):
    def now(self):
        return "[01/Dec/2026:10:00:00 +0000]"


@pytest.mark.parametrize("response", [
    _Response(), _Response(status=404, sent=None, headers={"X-Dict": "d"}.items()),
    _Response(status="503 Service Unavailable", sent=0, headers=[])])
@pytest.mark.parametrize("fmt", [
    Config().access_log_format,  # gunicorn's default
    '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms',  # config/gunicorn.conf.py
    EVERY_ATOM, BRACED])
def test_lazy_atoms_answer_what_gunicorns_atoms_answer(fmt, response):
    logger = _FixedClock(Config())
    expected = fmt % SafeAtoms(logger.atoms(response, _Request, ENVIRON, DURATION))
    assert fmt % LazyAtoms(logger, response, _Request, ENVIRON, DURATION) == expected


def test_lazy_atoms_know_every_atom_gunicorn_makes():
    logger = _FixedClock(Config())
    atoms = SafeAtoms(logger.atoms(_Response(), _Request, ENVIRON, DURATION))
    lazy = LazyAtoms(logger, _Response(), _Request, ENVIRON, DURATION)
    names = [name for name in atoms if not name.startswith("{")]
    assert len(names) >= 19 and {name: lazy[name] for name in names} == \
        {name: atoms[name] for name in names}


@pytest.fixture
def access_logs(tmp_path, monkeypatch):
    """Makes gunicorn's logger or ours, writing its access log to a file. They share the
    process-wide "gunicorn.access" log: each made closes the previous one's handlers."""
    monkeypatch.setenv("TENANT_ADMIN_KEY", KEY)
    root = logging.getLogger()
    saved = [(h, h.formatter) for h in root.handlers]

    def close_handlers():
        for log in (logging.getLogger("gunicorn.error"), logging.getLogger("gunicorn.access")):
            log.filters.clear()
            for handler in list(log.handlers):
                log.removeHandler(handler)
                handler.close()

    def make(cls, name, **settings):
        close_handlers()
        cfg = Config()
        cfg.set("accesslog", str(tmp_path / f"{name}.log"))
        cfg.set("errorlog", str(tmp_path / f"{name}-error.log"))
        for setting, value in settings.items():
            if value is None:
                cfg.settings[setting].value = None  # unset: what gunicorn's default is
            else:
                cfg.set(setting, value)
        return cls(cfg), tmp_path / f"{name}.log"

    yield make
    close_handlers()
    for handler in root.handlers[len(saved):]:
        root.removeHandler(handler)
    for handler, formatter in saved:
        handler.setFormatter(formatter)


def _lines(path):
    return path.read_text().splitlines()


@pytest.mark.parametrize("fmt", [Config().access_log_format, EVERY_ATOM, BRACED])
def test_access_lines_are_gunicorns_lines_redacted(access_logs, fmt):
    keyed = {**ENVIRON, "RAW_URI": f"/admin/tenants?key={KEY}", "PATH_INFO": f"/x/{KEY}"}
    theirs, their_path = access_logs(_FixedClock, "gunicorn", access_log_format=fmt)
    for environ in (ENVIRON, keyed):
        theirs.access(_Response(), _Request, environ, DURATION)
    ours, our_path = access_logs(type("Clocked", (_FixedClock, RedactingLogger), {}), "ours",
                                 access_log_format=fmt)
    for environ in (ENVIRON, keyed):
        ours.access(_Response(), _Request, environ, DURATION)
    expected = [redact(line, (KEY,)) for line in _lines(their_path)]
    assert _lines(our_path) == expected and len(expected) == 2
    assert KEY not in our_path.read_text()


def test_a_filter_on_the_access_log_still_gets_gunicorns_records(access_logs):
    ours, path = access_logs(RedactingLogger, "ours")
    seen = []

    def no_probes(record):
        seen.append(record.args)
        return record.args["U"] != "/healthz"

    ours.access_log.addFilter(no_probes)
    ours.access(_Response(), _Request, {**ENVIRON, "PATH_INFO": "/healthz"}, DURATION)
    ours.access(_Response(), _Request, ENVIRON, DURATION)
    assert [args["U"] for args in seen] == ["/healthz", "/t/acme/x"]
    assert len(_lines(path)) == 1 and "/t/acme/x" in _lines(path)[0]


def test_a_handler_of_the_apps_on_the_access_log_gets_records(access_logs):
    ours, path = access_logs(RedactingLogger, "ours")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    ours.access_log.addHandler(handler)
    ours.access(_Response(), _Request, ENVIRON, DURATION)
    assert len(records) == 1 and records[0].args["m"] == "POST"
    assert len(_lines(path)) == 1


def test_access_lines_follow_a_reopened_file_and_a_disabled_log(access_logs, tmp_path):
    ours, path = access_logs(RedactingLogger, "ours")
    ours.access(_Response(), _Request, ENVIRON, DURATION)
    path.rename(tmp_path / "rotated.log")
    ours.reopen_files()  # what SIGUSR1 does after a rotation
    ours.access(_Response(), _Request, ENVIRON, DURATION)
    logging.disable(logging.INFO)
    try:
        ours.access(_Response(), _Request, ENVIRON, DURATION)
    finally:
        logging.disable(logging.NOTSET)
    assert len(_lines(tmp_path / "rotated.log")) == 1 and len(_lines(path)) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(
    "xX-aAdDmMiInNkKeEyYpPuUtThHoOrRzZcCsS:= \t'\"\\?&;_0123456789"), max_size=60))
def test_redaction_shortcuts_change_no_line(line):
    full = _QUERY_VALUE.sub(lambda m: m.group(1) + REDACTED, _HEADER_VALUE.sub(
        lambda m: m.group(1) + m.group(2) + REDACTED, line))
    assert redact(line, ()) == full


def test_no_access_log_configured_writes_no_line(access_logs, tmp_path):
    ours, path = access_logs(RedactingLogger, "ours", accesslog=None)
    ours.access(_Response(), _Request, ENVIRON, DURATION)
    assert not path.exists() and not ours.access_log.handlers

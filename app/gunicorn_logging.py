"""gunicorn's logger with redaction: no key reaches a log line, whatever the request held.

Every handler of gunicorn's error and access logs (and the root logger, which carries the
app's warnings, when nothing else configured it) formats through ``RedactingFormatter``:
the configured keys, the value after a key-carrying header name (``X-Admin-Key adm-...``
from a header line without a colon, ``Authorization: Bearer ...``) and key-like query
parameters are replaced by ``[redacted]`` in the finished line, traceback included.

Access lines are built from only the atoms their format names (app/gunicorn_access.py),
and while the access log is gunicorn's own (its handlers, nothing filtering or
reformatting it) each finished line is written to them directly, without a log record
that nothing would read: together about a tenth of a request's CPU. Anything else set up
on that log (a filter, a handler of the app's, a logging config) gets gunicorn's records.
"""
from __future__ import annotations

import logging
import re
import sys
import traceback

from gunicorn.glogging import Logger

from .gunicorn_access import LazyAtoms
from .settings import secret_values

REDACTED = "[redacted]"
# A key-carrying header name, then separators, then its value up to a quote, backslash
# (a repr'd CR or LF) or the end of the line.
_HEADER_VALUE = re.compile(
    r"(?i)\b(x-admin-key|x-api-key|authorization|proxy-authorization|cookie|set-cookie)"
    r"([\s:=]+)[^\r\n'\"\\]+")
_QUERY_VALUE = re.compile(r"(?i)([?&;](?:key|api_key|apikey|token|access_token)=)[^&\s'\"]*")


# Lower-cased, every name _HEADER_VALUE matches contains one of these.
_HEADER_NAME_PARTS = ("x-admin-key", "x-api-key", "authorization", "cookie")


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without any of ``secrets`` nor values of key-carrying headers or parameters."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    # Each expression only where it can match (most lines: access lines): trying it at
    # every position costs more than the rest of the line's redaction. The check is
    # exact on ASCII, where a case-insensitive match is one of the lower-cased text.
    lowered = text.lower() if text.isascii() else None
    if lowered is None or any(part in lowered for part in _HEADER_NAME_PARTS):
        text = _HEADER_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    if "=" not in text:
        return text
    return _QUERY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner`` (gunicorn's own format), then redacts the whole line."""

    def __init__(self, inner: logging.Formatter, secrets: tuple[str, ...]):
        super().__init__()
        self.inner = inner
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record), self.secrets)


class RedactingLogger(Logger):
    """``logger_class`` in config/gunicorn.conf.py."""

    _own_access_log = False  # set by setup(): see there

    def setup(self, cfg):
        super().setup(cfg)
        secrets = secret_values()
        root = logging.getLogger()
        if not root.handlers:
            # The app's own warnings would go to logging's last-resort handler, unredacted.
            root.addHandler(logging.StreamHandler(sys.stderr))
            root.handlers[0].setFormatter(logging.Formatter(self.error_fmt, self.datefmt))
        for log in (self.error_log, self.access_log, root):
            for handler in log.handlers:
                inner = handler.formatter or logging.Formatter()
                if isinstance(inner, RedactingFormatter):
                    inner = inner.inner  # set up again (config reload): wrap once
                handler.setFormatter(RedactingFormatter(inner, secrets))

        # An access log and no logging config of the operator's: the access log's handlers
        # are gunicorn's own.
        self._own_access_log = bool(cfg.accesslog) and not (
            cfg.logconfig or cfg.logconfig_dict or getattr(cfg, "logconfig_json", None)
            or cfg.syslog)

    def access(self, resp, req, environ, request_time):
        handlers = self._plain_access_handlers()
        if handlers is None:  # gunicorn's own way, with its own check that the log is on
            super().access(resp, req, environ, request_time)
            return
        try:
            line = self.cfg.access_log_format % LazyAtoms(self, resp, req, environ,
                                                          request_time)
        except Exception:
            self.error(traceback.format_exc())
            return
        for handler in handlers:
            _write_line(handler, redact(line, handler.formatter.secrets), self.access_log)

    def _plain_access_handlers(self) -> list[logging.StreamHandler] | None:
        """The access log's handlers when a finished line is all any of them would use
        of a record: gunicorn's streams, formatting ``%(message)s`` through redaction,
        no filter anywhere, nothing propagated; else None."""
        log = self.access_log
        if not self._own_access_log or log.filters or log.propagate \
                or not log.isEnabledFor(logging.INFO):
            return None
        handlers = log.handlers
        for handler in handlers:
            formatter = handler.formatter
            if not (type(handler) in _STREAM_HANDLERS and not handler.filters
                    and handler.level <= logging.INFO and handler.stream is not None
                    and type(formatter) is RedactingFormatter
                    and type(formatter.inner) is logging.Formatter
                    and formatter.inner._fmt == self.access_fmt):
                return None
        return handlers


# What gunicorn's access log writes through ("-" and a file path).
_STREAM_HANDLERS = (logging.StreamHandler, logging.FileHandler)


def _write_line(handler: logging.StreamHandler, line: str, log: logging.Logger) -> None:
    """What ``handler.handle`` does with a record of ``line`` (StreamHandler.emit)."""
    handler.acquire()
    try:
        handler.stream.write(line + handler.terminator)
        handler.flush()
    except RecursionError:
        raise
    except Exception:
        handler.handleError(log.makeRecord(log.name, logging.INFO, "", 0, line, (), None))
    finally:
        handler.release()

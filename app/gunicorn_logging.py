"""gunicorn's logger with redaction: no key reaches a log line, whatever the request held.

Every handler of gunicorn's error and access logs (and the root logger, which carries the
app's warnings, when nothing else configured it) formats through ``RedactingFormatter``:
the configured keys, the value after a key-carrying header name (``X-Admin-Key adm-...``
from a header line without a colon, ``Authorization: Bearer ...``) and key-like query
parameters are replaced by ``[redacted]`` in the finished line, traceback included.
"""
from __future__ import annotations

import logging
import re
import sys

from gunicorn.glogging import Logger

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

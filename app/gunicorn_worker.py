"""The gunicorn worker: gthread, whose own error pages are JSON and never echo the request.

gunicorn answers a request it cannot parse (a header line without a colon, obs-fold, a
duplicate Host, a bad HTTP version, an oversize line, an unknown transfer coding) before
the app sees it, with an HTML page quoting the offending bytes, and logs those bytes: a
key sent in a malformed header line ended up in both. This worker answers
``{"error": code}`` instead, logs the error's type only, and never writes a second
answer on a connection whose request was already answered.
"""
from __future__ import annotations

import json
import ssl
import threading
from datetime import timedelta
from http import HTTPStatus

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker

# (gunicorn error class name, status, code), most specific first: the first class the
# error is an instance of decides. Names, so that a gunicorn without one still loads.
_ANSWERS = (
    ("InvalidResponseHeader", 500, "internal_error"),  # the app's header: its fault
    ("InvalidResponseHeaderName", 500, "internal_error"),
    ("ConfigurationProblem", 500, "internal_error"),
    ("LimitRequestLine", 414, "uri_too_long"),
    ("LimitRequestHeaders", 431, "request_header_fields_too_large"),
    ("UnsupportedTransferCoding", 501, "unsupported_transfer_coding"),
    ("ExpectationFailed", 417, "expectation_failed"),
    ("ForbiddenProxyRequest", 403, "forbidden"),
    ("InvalidChunkSize", 400, "malformed_body"),
    ("ChunkMissingTerminator", 400, "malformed_body"),
    ("InvalidChunkExtension", 400, "malformed_body"),
    ("InvalidRequestMethod", 400, "invalid_method"),
    ("InvalidRequestLine", 400, "invalid_request_line"),
    ("InvalidHTTPVersion", 400, "invalid_http_version"),
    ("ObsoleteFolding", 400, "invalid_header"),
    ("InvalidHeader", 400, "invalid_header"),
    ("InvalidHeaderName", 400, "invalid_header"),
    ("InvalidSchemeHeaders", 400, "invalid_header"),
    ("InvalidProxyLine", 400, "invalid_proxy_line"),
    ("InvalidProxyHeader", 400, "invalid_proxy_line"),
    ("ParseException", 400, "bad_request"),  # any other parse error
)
ANSWERS = tuple((getattr(http_errors, name), status, code)
                for name, status, code in _ANSWERS if hasattr(http_errors, name)) \
    + ((ssl.SSLError, 403, "forbidden"),)
INTERNAL = (500, "internal_error")


def answer_for(exc: BaseException) -> tuple[int, str]:
    """The status and error code gunicorn's error ``exc`` is answered with."""
    for error_class, status, code in ANSWERS:
        if isinstance(exc, error_class):
            return status, code
    return INTERNAL


def error_response(status: int, code: str) -> bytes:
    body = json.dumps({"error": code}).encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class JsonErrorWorker(ThreadWorker):
    """gunicorn's gthread worker with JSON error pages (config/gunicorn.conf.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The request each pool thread last answered in full.
        self._answered = threading.local()

    def handle_request(self, req, conn):
        self._answered.req = None
        keepalive = super().handle_request(req, conn)
        self._answered.req = req
        return keepalive

    def handle_error(self, req, client, addr, exc):
        addr = addr or ("", -1)  # a unix socket has no address
        if req is not None and getattr(self._answered, "req", None) is req:
            # Answered already; what failed is draining its unread body afterwards. A
            # second answer would corrupt the connection, which closes now anyway.
            self.log.debug("unread body of an answered request failed: %s",
                           type(exc).__name__)
            return
        status, code = answer_for(exc)
        if (status, code) == INTERNAL:
            self.log.exception("Error handling request")
        else:
            # The type only: the error's text quotes the request, keys included.
            self.log.warning("Invalid request from ip=%s: %s", addr[0], type(exc).__name__)
        if req is None:
            req = getattr(exc, "req", None)  # a header error keeps its request, if parsed
        answer = error_response(status, code)
        if hasattr(req, "method"):
            self._log_access(req, client, addr, status, len(answer.partition(b"\r\n\r\n")[2]))
        try:
            util.write_nonblock(client, answer)
        except OSError:
            self.log.debug("Failed to send error message.")

    def _log_access(self, req, client, addr, status: int, length: int) -> None:
        environ = default_environ(req, client, self.cfg)
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
        resp = Response(req, client, self.cfg)
        resp.status = f"{status} {HTTPStatus(status).phrase}"
        resp.response_length = length
        self.log.access(resp, req, environ, timedelta(0))

"""Request bodies are read through one guard: a body that cannot be read is a 400, never a 500.

gunicorn parses the body's framing while the app reads it, so its parse errors (a bad
chunk size, a missing chunk terminator, a bad chunk extension) and a client gone in the
middle of the body surface from ``wsgi.input.read`` wherever the app reads: the JSON
parser, the multipart parser, the buffer for chunked bodies. A body with Content-Length
that ends early raises nothing at all: gunicorn hands over what came and then the end,
and Werkzeug, trusting a server that terminates the input, takes it for the whole body.
The guard, installed around ``wsgi.input`` for every request, turns each of these into
``MalformedBody``, which app/errors.py answers with ``400 malformed_body``. gunicorn
closes the connection after a body that failed: where the next request starts is unknown.
"""
from __future__ import annotations

import time
from typing import Callable, Iterator

from flask import Flask, Response, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import ClientDisconnected


class MalformedBody(Exception):
    """The request body could not be read: broken framing, or the client left mid-body."""


# NoMoreData: the client closed the connection before the body's end. ConnectionError:
# it reset the connection meanwhile. Both are the client's doing, as a parse error is.
_UNREADABLE = (ParseException, NoMoreData, ConnectionError)


class GuardedInput:
    """``wsgi.input`` whose read errors, and an end before ``expected`` bytes, are
    ``MalformedBody``."""

    def __init__(self, stream, expected: int | None = None):
        self._stream = stream
        self._expected = expected
        self._seen = 0

    def read(self, size: int | None = -1) -> bytes:
        return self._counted(self._guard(self._stream.read, size), size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._counted(self._guard(self._stream.readline, size), size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def _counted(self, data: bytes, size: int | None) -> bytes:
        self._seen += len(data)
        # The end of the body: a read of everything, or nothing where more was asked for.
        ended = size is None or size < 0 or (size > 0 and not data)
        if ended and self._expected is not None and self._seen < self._expected:
            raise MalformedBody("body ended before its Content-Length")
        return data

    @staticmethod
    def _guard(call: Callable, size):
        try:
            return call() if size is None else call(size)
        except _UNREADABLE as exc:
            raise MalformedBody(type(exc).__name__) from None


def _content_length(environ: dict) -> int | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None  # absent or not a number: nothing to hold the body to
    return length if length >= 0 else None


# A refusal is often answered before its body was read (an unknown tenant, a full quota,
# a bad header). gunicorn reads only 64 KiB of what is left before it closes the
# connection, and a proxy still sending the rest (nginx) turns that reset into a 502
# instead of the app's answer. So the unread body of a refused request, when within the
# route's limit, is read first, for at most this long; a client slower than that has
# its connection closed by gunicorn, as before.
DRAIN_SECONDS = 2.0
DRAIN_CHUNK = 1 << 16


def drain_refused_body(response: Response) -> Response:
    if response.status_code < 400:
        return response  # answered as asked: the body was the app's to read
    if not request.environ.get("CONTENT_LENGTH"):
        # No declared body (most refusals: GET probes): nothing to drain. Asked first
        # because the parsed length and the app's limit cost more than the rest of a
        # refusal's hooks together.
        return response
    length, limit = request.content_length, request.max_content_length
    if not length or (limit is not None and length > limit):
        return response
    sock = request.environ.get("gunicorn.socket")
    previous = sock.gettimeout() if sock is not None else None
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while time.monotonic() < deadline:
            if sock is not None:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
            if not request.stream.read(DRAIN_CHUNK):
                break
    except (MalformedBody, ClientDisconnected, OSError):
        pass  # a body that cannot be read to its end: gunicorn closes the connection
    finally:
        if sock is not None:
            sock.settimeout(previous)
    return response


def init_request_body(app: Flask, services) -> None:
    """Install the guard around every request's body (the app's outermost WSGI layer),
    and drain what a refused request left unread."""
    app.after_request(drain_refused_body)
    inner = app.wsgi_app

    def guarded(environ: dict, start_response):
        stream = environ.get("wsgi.input")
        if stream is not None and not isinstance(stream, GuardedInput):
            environ["wsgi.input"] = GuardedInput(stream, _content_length(environ))
        return inner(environ, start_response)

    app.wsgi_app = guarded  # type: ignore[method-assign]

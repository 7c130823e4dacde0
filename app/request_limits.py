"""Request body limits: small for JSON everywhere, larger only for upload endpoints."""
from __future__ import annotations

import io
from typing import Callable

from flask import Flask, request

from .errors import ApiError

from .settings import Settings


def accepts_uploads(view: Callable) -> Callable:
    """Mark a view as taking file uploads up to MAX_UPLOAD_BYTES instead of MAX_JSON_BYTES."""
    view.accepts_uploads = True
    return view


def init_request_limits(app: Flask, services) -> None:
    settings: Settings = services.settings
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_upload_bytes, settings.max_json_bytes)

    views = app.view_functions

    @app.before_request
    def limit_body_size():
        environ = request.environ
        if "HTTP_TRANSFER_ENCODING" not in environ and environ.get("CONTENT_LENGTH") in \
                (None, "", "0"):
            return  # no body at all (most requests): nothing to limit or buffer
        current = request._get_current_object()  # one proxy lookup, not one per use
        uploads = getattr(views.get(current.endpoint or ""), "accepts_uploads", False)
        limit = settings.max_upload_bytes if uploads else settings.max_json_bytes
        # A property read from the headers each time: asked once, and again after buffering.
        length = current.content_length
        if length is None and environ.get("wsgi.input_terminated"):
            _buffer_unsized_body(environ, limit)
            length = current.content_length
        if length is not None:
            if length > limit:
                raise ApiError(413, "payload_too_large")
            # The body has a known length within the limit: let Werkzeug read exactly that
            # many bytes. Told that the server terminates the input, it would read up to the
            # limit and call a body of exactly MAX_*_BYTES too large when it asks for more.
            environ.pop("wsgi.input_terminated", None)
        current.max_content_length = limit


def _buffer_unsized_body(environ: dict, limit: int) -> None:
    """Read a body sent without Content-Length (chunked) up to ``limit`` bytes.

    Werkzeug would silently cut such a body at the limit and the app would parse
    the prefix; here one byte too many is a 413, and the rest of the request sees
    an ordinary sized body.
    """
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise ApiError(413, "payload_too_large")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)

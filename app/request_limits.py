"""Request body limits: small for JSON everywhere, larger only for upload endpoints."""
from __future__ import annotations

from typing import Callable

from flask import Flask, current_app, request

from .settings import Settings


def accepts_uploads(view: Callable) -> Callable:
    """Mark a view as taking file uploads up to MAX_UPLOAD_BYTES instead of MAX_JSON_BYTES."""
    view.accepts_uploads = True
    return view


def init_request_limits(app: Flask, settings: Settings) -> None:
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_upload_bytes, settings.max_json_bytes)

    @app.before_request
    def limit_body_size():
        view = current_app.view_functions.get(request.endpoint or "")
        uploads = getattr(view, "accepts_uploads", False)
        request.max_content_length = settings.max_upload_bytes if uploads \
            else settings.max_json_bytes

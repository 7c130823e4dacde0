"""API keys: compared in constant time against every configured key; never logged.

The audit log names a key by ``key:`` and the first 8 hex digits of its SHA-256: enough
to tell rotated keys apart, too little to recover or try a key with.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import request

from .errors import ApiError


def key_matches(presented: str | None, accepted: tuple[str, ...]) -> bool:
    """True when ``presented`` equals one of ``accepted``.

    Every configured key is compared (no early exit), each with hmac.compare_digest,
    so timing reveals neither which key matched nor how much of one did. No key
    configured means nothing matches: the surface fails closed.
    """
    if not presented or not accepted:
        return False
    candidate = presented.encode("utf-8", "surrogateescape")
    matched = False
    for key in accepted:
        matched |= hmac.compare_digest(candidate, key.encode("utf-8"))
    return matched


def require_key(header: str, accepted: tuple[str, ...]) -> None:
    """Refuse the request with 401 unless ``header`` carries an accepted key.

    Only the header counts: a key in the query string would end up in access logs.
    Spaces and tabs around the value are not part of it (RFC 9110, 5.5): gunicorn strips
    them on the wire, and so does this, whatever server runs the app.
    """
    presented = request.headers.get(header)
    if not key_matches(None if presented is None else presented.strip(" \t"), accepted):
        raise ApiError(401, "unauthorized")


def key_actor(key: str) -> str:
    """The audit actor of ``key``: its fingerprint, never the key."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return f"key:{digest[:8]}"


def request_actor(header: str) -> str:
    """The audit actor of this request, once ``require_key(header, ...)`` accepted it."""
    return key_actor(request.headers.get(header, "").strip(" \t"))

"""One error path: every error any layer raises is answered ``{"error": code, ...}``.

Domain code (store, limits, tenant runtimes, uploads, purge) raises plain exceptions
named for what happened; ``ANSWERS`` below is the one table of how each is answered
(status, code, headers, fields). Views raise ``ApiError`` for refusals of their own;
Werkzeug's and flask-smorest's HTTP errors are mapped too; anything else is a 500.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from flask import Flask, Request, current_app, g, jsonify
from werkzeug.exceptions import ClientDisconnected, HTTPException

log = logging.getLogger(__name__)

# Codes for the HTTP errors Werkzeug and Flask raise on their own.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "invalid_body",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
}


MALFORMED_BODY = (400, "malformed_body")
RETRY_SOON = {"Retry-After": "1"}


class ApiError(Exception):
    """An error answered to the client as ``{"error": code, **extra}`` with ``status``."""

    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None,
                 **extra: Any):
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, **self.extra}


def _answers() -> dict[type[Exception], Callable[[Any], ApiError]]:
    """Exception type -> the answer to it. Built when the app is: the domain modules
    import this one (for ApiError), so importing them here at load time would be a cycle."""
    from .limits import LimitRefused, UnknownLimit
    from .metrics.fold_seqlock import MetricsUnsettled
    from .policy import BudgetExceeded, ModelNotAllowed
    from .request_body import MalformedBody
    from .runtime.registry import TenantDisabled, TenantNotFound, TenantPending, \
        TenantUnavailable
    from .runtime.thread_share import TenantBusy
    from .runtime.upload_intake import StorageLow, TenantStorageUnavailable
    from .store import DirectoryTaken, HostTaken, LabelCapReached, QuotaExceeded, \
        StoreUnavailable
    from .store.jobs import TenantMissing
    from .tenants.purge import PurgeFailed

    return {
        StoreUnavailable: lambda e: ApiError(503, "store_unavailable", RETRY_SOON),
        LimitRefused: lambda e: ApiError(429 if e.scope == "tenant" else 503,
                                         "concurrency_limit", RETRY_SOON, scope=e.scope,
                                         limit=e.limit),
        UnknownLimit: lambda e: ApiError(404, "unknown_limit", limit=e.name[:64]),
        LabelCapReached: lambda e: ApiError(429, "label_cardinality_limit", limit=e.limit),
        HostTaken: lambda e: ApiError(409, "host_taken", host=e.host),
        DirectoryTaken: lambda e: ApiError(409, "directory_in_use", field=e.field),
        QuotaExceeded: lambda e: ApiError(403, "quota_exceeded", quota=e.quota,
                                          limit=e.limit, used=e.used),
        StorageLow: lambda e: ApiError(503, "storage_low", {"Retry-After": "60"}),
        TenantStorageUnavailable: lambda e: ApiError(503, "tenant_storage_unavailable"),
        PurgeFailed: lambda e: ApiError(503, "tenant_storage_unavailable"),
        TenantNotFound: lambda e: ApiError(404, "unknown_tenant"),
        # A job submitted for a tenant purged while the request ran.
        TenantMissing: lambda e: ApiError(404, "unknown_tenant"),
        TenantDisabled: lambda e: ApiError(503, "tenant_disabled"),
        TenantPending: lambda e: ApiError(503, "tenant_pending", RETRY_SOON),
        TenantUnavailable: lambda e: ApiError(503, "tenant_unavailable",
                                              {"Retry-After": "5"}),
        TenantBusy: lambda e: ApiError(429, "tenant_busy", RETRY_SOON, limit=e.per_tenant),
        MalformedBody: lambda e: ApiError(*MALFORMED_BODY),
        ModelNotAllowed: lambda e: ApiError(403, "model_not_allowed", model=e.model[:128]),
        BudgetExceeded: _budget_exceeded,
        MetricsUnsettled: lambda e: ApiError(503, "metrics_unavailable", {"Retry-After": "5"},
                                             reason=e.reason),
    }


def _budget_exceeded(e) -> ApiError:
    if e.scope == "request":
        return ApiError(429, "budget_exceeded", scope="request",
                        limit_usd=e.limit_micros / 1_000_000)
    return ApiError(429, "budget_exceeded", {"Retry-After": str(e.retry_after)},
                    scope="daily", remaining_usd=e.remaining_micros / 1_000_000,
                    resets_at=e.resets_at)


ANSWERS: dict[type[Exception], Callable[[Any], ApiError]] = {}


def api_error_for(exc: Exception) -> ApiError | None:
    """How ``exc`` is answered, or None for an exception no code expected (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HTTPException):
        return _from_http_exception(exc)
    if not ANSWERS:
        ANSWERS.update(_answers())
    for kind in type(exc).__mro__:
        answer = ANSWERS.get(kind)
        if answer is not None:
            return answer(exc)
    return None


def answer(exc: Exception):
    """The response to an expected refusal, for a hook that returns it instead of raising:
    the same answer the error handler gives, without Flask's search for that handler (a
    refusal costs no more than an answer on the same route)."""
    found = api_error_for(exc)
    if found is None:
        raise exc
    return _render(found)


# The body of each error without fields, as the app's jsonify writes it: made once per
# JSON provider (one per app) and code.
_PLAIN_BODIES: dict[tuple[Any, str], bytes] = {}


def _render(error: ApiError):
    if error.extra:
        response = jsonify(error.body())
        response.status_code = error.status
    else:
        provider = current_app.json
        data = _PLAIN_BODIES.get((provider, error.code))
        if data is None:  # jsonify's own bytes, made once
            data = _PLAIN_BODIES[provider, error.code] = jsonify(error.body()).get_data()
        response = current_app.response_class(data, error.status, mimetype=provider.mimetype)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _from_http_exception(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    data = getattr(exc, "data", None)
    if isinstance(exc, ClientDisconnected):
        # A sized body that ended early: the same answer as any other unreadable body.
        return ApiError(*MALFORMED_BODY)
    if isinstance(getattr(exc, "exc", None), (json.JSONDecodeError, UnicodeDecodeError)):
        # webargs could not decode the JSON body at all.
        return ApiError(400, "malformed_json")
    if status in (400, 422) and isinstance(data, dict) and "messages" in data:
        # Schema validation from webargs/flask-smorest: name every offending field.
        messages = data["messages"]
        code = "invalid_query" if isinstance(messages, dict) and set(messages) == {"query"} \
            else "invalid_body"
        return ApiError(400, code, fields=_flatten_messages(messages))
    # Keep protocol headers such as Allow (405) and Retry-After; the body is ours.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return ApiError(status, _HTTP_CODES.get(status, "http_error"), headers=headers)


def _flatten_messages(messages: Any) -> Any:
    # webargs nests messages under the location ("json", "query"); callers only need the fields.
    if isinstance(messages, dict) and len(messages) == 1:
        (location, inner), = messages.items()
        if location in ("json", "query", "form", "files", "headers", "view_args") \
                and isinstance(inner, dict):
            return _string_keys(inner)
    return _string_keys(messages)


def _string_keys(value: Any) -> Any:
    # List positions come as int keys beside "_schema"; JSON needs (sortable) string keys.
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_strictly(data: bytes | str) -> Any:
    """Standard JSON only: NaN/Infinity, absurd nesting or huge integers are a 400."""
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json") from None


class JsonRequest(Request):
    """A request whose undecodable JSON body is a ``malformed_json`` error, never a 500."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        raise ApiError(400, "malformed_json")

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            return super().get_json(force, silent, cache)
        try:
            return parse_json_strictly(self.get_data(cache=cache))
        except ApiError:
            if silent:
                return None
            raise


def was_unhandled() -> bool:
    """True when this request ended in an exception no code expected (answered 500)."""
    return g.get("unhandled_error", False)


def register_error_handlers(app: Flask, services) -> None:
    """Make every 4xx/5xx, from any layer, a JSON body with an ``error`` code."""
    app.request_class = JsonRequest
    ANSWERS.update(_answers())

    def handle(exc: Exception):
        answer = api_error_for(exc)
        if answer is None:
            # The traceback goes to the log for operators, never into the response body.
            log.exception("unhandled error")
            g.unhandled_error = True  # counted in flask_http_request_exceptions_total
            answer = ApiError(500, "internal_error")
        return _render(answer)

    # HTTPException too: it replaces the handler flask-smorest registered for it.
    for kind in (Exception, HTTPException):
        app.register_error_handler(kind, handle)

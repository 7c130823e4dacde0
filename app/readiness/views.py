"""/healthz (liveness) and /readyz (global readiness), exactly as the contract locks them."""
from __future__ import annotations

from flask import jsonify

from ..openapi import Blueprint
from ..errors import ApiError
from ..services import services
from .schemas import CheckQuerySchema, ReadinessQuerySchema, ReadinessSchema, StatusSchema

blp = Blueprint("readiness", __name__, description="Liveness and global readiness")


def _readiness():
    return services().readiness


def _status(ready: bool) -> str:
    return "ready" if ready else "not ready"


@blp.route("/healthz")
@blp.response(200, StatusSchema)
def healthz():
    """Liveness: answers while the process serves; consults nothing."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.arguments(ReadinessQuerySchema(), location="query", error_status_code=400)
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="Not ready")
def readyz(query):
    """Global readiness from global checks only; no tenant is ever an input."""
    evaluation = _readiness().evaluate(exclude=query.get("exclude", []))
    body = {"status": _status(evaluation.ready)}
    if query.get("verbose"):
        body["checks"] = [r.as_dict() for r in evaluation.results]
    if evaluation.warnings:
        body["warnings"] = evaluation.warnings
    return jsonify(body), 200 if evaluation.ready else 503


@blp.route("/readyz/<check>")
@blp.arguments(CheckQuerySchema(), location="query", error_status_code=400)
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="The check failed")
@blp.alt_response(404, description="Unknown check")
def readyz_check(query, check: str):
    """One global check alone."""
    readiness = _readiness()
    if check not in readiness.checks:
        raise ApiError(404, "unknown_check", check=check[:64], known=readiness.checks.names())
    result = readiness.evaluate_one(check)
    return jsonify({"status": _status(result.ok), "checks": [result.as_dict()]}), \
        200 if result.ok else 503

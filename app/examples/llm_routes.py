"""An example tenant blueprint: one route per LLM role, each under its concurrency limit,
calling the tenant's own model client (a tenant resource, contract sec. 12).

Register it with ``llm_routes.init_app(app)`` before the first request; it is then served
under ``/t/<tenant>/llm/...`` and un-prefixed for the host's (or default) tenant. Each
tenant's client is built from its ``extra["llm"]`` (``{"model": ..., "endpoint": ...}``),
once per tenant per worker, checked by the tenant's validation and rechecks, and closed
when the tenant is unloaded, disabled, purged or reconfigured.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import Blueprint, Flask

from ..limits import limited
from ..runtime import (ValidationFailure, current_tenant, register_tenant_blueprint,
                       register_tenant_resource, tenant_resource)

blp = Blueprint("llm_example", __name__, url_prefix="/llm")

DEFAULT_MODEL = "echo"


class ModelClient:
    """A tenant's model client. The example answers itself; a real one would hold a
    connection pool to ``endpoint`` and the tenant's credentials."""

    def __init__(self, config: Mapping[str, Any]):
        self.model = config.get("model", DEFAULT_MODEL)
        self.endpoint = config.get("endpoint")
        self.closed = False

    def check(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValidationFailure("extra.llm.model must be a non-empty string",
                                    recovery="permanent")
        if self.closed:
            raise ValidationFailure("model client is closed")

    def complete(self, role: str) -> str:
        return "ok"  # the model call, made inside the held permits

    def close(self) -> None:
        self.closed = True


def _client(record) -> ModelClient:
    config = record.extra.get("llm", {})
    return ModelClient(config if isinstance(config, dict) else {})


def init_app(app: Flask) -> None:
    """The model client resource and the routes, on ``app`` (before its first request)."""
    register_tenant_resource(app, "llm", _client, validator=lambda client, record: client.check(),
                             close=lambda client: client.close())
    register_tenant_blueprint(app, blp)


def _answer(role: str) -> dict:
    context = current_tenant("llm_example")
    client = tenant_resource("llm")
    return {"tenant": context.tenant, "workspace": context.workspace, "role": role,
            "model": client.model, "answer": client.complete(role)}


@blp.route("/student", methods=["POST"])
@limited("llm_student")
def student():
    return _answer("student")


@blp.route("/teacher", methods=["POST"])
@limited("llm_teacher")
def teacher():
    return _answer("teacher")

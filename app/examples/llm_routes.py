"""An example tenant blueprint: one route per LLM role, each under its concurrency limit.

Register it with ``register_tenant_blueprint(app, llm_routes.blp)``; it is then
served under ``/t/<tenant>/llm/...`` and un-prefixed for the host's (or default) tenant.
"""
from __future__ import annotations

from flask import Blueprint

from ..limits import limited
from ..runtime import current_tenant

blp = Blueprint("llm_example", __name__, url_prefix="/llm")


def _answer(role: str) -> dict:
    context = current_tenant("llm_example")
    # A real handler would call the model here, inside the held permits.
    return {"tenant": context.tenant, "workspace": context.workspace, "role": role,
            "answer": "ok"}


@blp.route("/student", methods=["POST"])
@limited("llm_student")
def student():
    return _answer("student")


@blp.route("/teacher", methods=["POST"])
@limited("llm_teacher")
def teacher():
    return _answer("teacher")

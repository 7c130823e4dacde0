"""An example tenant blueprint: one route per LLM role, each under its concurrency limit,
calling the tenant's own model client (a tenant resource, contract sec. 12) under the
tenant's policy (contract sec. 14).

Register it with ``llm_routes.init_app(app)`` before the first request; it is then served
under ``/t/<tenant>/llm/...`` and un-prefixed for the host's (or default) tenant. Each
tenant's client is built from its ``extra["llm"]`` (``{"model": ..., "endpoint": ...}``),
once per tenant per worker, checked by the tenant's validation and rechecks, and closed
when the tenant is unloaded, disabled, purged or reconfigured.

A body ``{"model": ..., "prompt": ...}`` is a model call: its cost is estimated from
the prompt's length with LLM_PRICES (USD per million characters, per model) and it runs
under ``tenant_spend``, so the tenant's allowed models and budget apply. A request
without a body only takes the role's permits and names the client's default model.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from flask import Blueprint, Flask, request

from ..errors import ApiError
from ..limits import limited
from ..policy import tenant_spend
from ..policy.schemas import MODEL_NAME
from ..runtime import (ValidationFailure, current_tenant, register_tenant_blueprint,
                       register_tenant_resource, tenant_resource)
from ..services import services

blp = Blueprint("llm_example", __name__, url_prefix="/llm")

DEFAULT_MODEL = "echo"
MAX_PROMPT_CHARS = 100_000


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

    def complete(self, role: str, prompt: str = "", model: str | None = None) -> str:
        """The model call, made inside the held permits (and the spend's reservation).
        A real client would also return what the provider says the call cost."""
        return "ok"

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


def _prompt_call() -> tuple[str, str] | None:
    if not request.content_length and not request.is_json:
        return None
    body = request.get_json(force=True)
    if not isinstance(body, dict) or set(body) != {"model", "prompt"}:
        raise ApiError(400, "invalid_body", fields={"_schema": ["Expected model and prompt."]})
    model, prompt = body["model"], body["prompt"]
    if not isinstance(model, str) or not MODEL_NAME.match(model):
        raise ApiError(400, "invalid_body", fields={"model": ["Not a model name."]})
    if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(400, "invalid_body", fields={
            "prompt": [f"A string of at most {MAX_PROMPT_CHARS} characters."]})
    return model, prompt


def estimate_usd(model: str, prompt: str) -> Decimal:
    """The call's cost from the prompt's length; a model without a price is refused."""
    price = services().settings.llm_prices.get(model)
    if price is None:
        raise ApiError(400, "unpriced_model", model=model)
    return price * len(prompt) / 1_000_000


def _answer(role: str) -> dict:
    context = current_tenant("llm_example")
    client = tenant_resource("llm")
    answer = {"tenant": context.tenant, "workspace": context.workspace, "role": role}
    call = _prompt_call()
    if call is None:
        return {**answer, "model": client.model, "answer": client.complete(role)}
    model, prompt = call
    with tenant_spend(model=model, estimate_usd=estimate_usd(model, prompt)) as charge:
        text = client.complete(role, prompt, model)
        # With a provider that reports the cost: charge.settle(reported_usd).
    return {**answer, "model": model, "answer": text, "estimate_usd": charge.estimate_usd}


@blp.route("/student", methods=["POST"])
@limited("llm_student")
def student():
    return _answer("student")


@blp.route("/teacher", methods=["POST"])
@limited("llm_teacher")
def teacher():
    return _answer("teacher")

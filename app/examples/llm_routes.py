"""An example tenant blueprint: one route per LLM role, each under its concurrency limit.

Register it with ``register_tenant_blueprint(app, llm_routes.blp)``; it is then
served under ``/t/<tenant>/llm/...`` and un-prefixed for the host's (or default) tenant.

A body ``{"model": ..., "prompt": ...}`` is a model call: its cost is estimated from
the prompt's length with LLM_PRICES (USD per million characters, per model) and it runs
under ``tenant_spend``, so the tenant's allowed models and budget apply (contract
sec. 14). A request without a body only takes the role's permits.

To call a real model, replace ``call_model`` with your client (built once per tenant,
for instance as a tenant resource) and settle what the provider says the call cost.
"""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, request

from ..errors import ApiError
from ..limits import limited
from ..policy import tenant_spend
from ..policy.schemas import MODEL_NAME
from ..runtime import current_tenant
from ..services import services

blp = Blueprint("llm_example", __name__, url_prefix="/llm")

MAX_PROMPT_CHARS = 100_000


def call_model(model: str, prompt: str) -> tuple[str, Decimal | None]:
    """The model call: its answer and, when the provider reports it, its cost in USD.

    This stand-in answers at once and reports nothing (the estimate is settled).
    """
    return "ok", None


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
    answer = {"tenant": context.tenant, "workspace": context.workspace, "role": role}
    call = _prompt_call()
    if call is None:
        return {**answer, "answer": "ok"}
    model, prompt = call
    with tenant_spend(model=model, estimate_usd=estimate_usd(model, prompt)) as charge:
        text, cost = call_model(model, prompt)
        if cost is not None:
            charge.settle(cost)
    return {**answer, "model": model, "answer": text,
            "estimate_usd": charge.estimate_usd}


@blp.route("/student", methods=["POST"])
@limited("llm_student")
def student():
    return _answer("student")


@blp.route("/teacher", methods=["POST"])
@limited("llm_teacher")
def teacher():
    return _answer("teacher")

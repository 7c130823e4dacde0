"""Chaos routes (only with CHAOS_ENABLED=1): POST /t/<t>/chaos/hold/<limit>?ms=N holds a
limit, POST /t/<t>/chaos/spend?usd=X&ms=N holds a budget reservation, over HTTP."""
from __future__ import annotations

import time

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from decimal import Decimal, InvalidOperation

from ..openapi import Blueprint
from ..limits import tenant_limit
from ..policy import tenant_spend
from ..policy.money import usd
from ..policy.schemas import ModelName, Usd
from ..runtime.context import current_tenant
from ..runtime.dispatch import tenant_runtime
from ..services import services

blp = Blueprint("chaos", __name__, description="Fault injection (CHAOS_ENABLED=1 only)")

MAX_HOLD_MS = 30000
CHAOS_MODEL = "chaos"  # the model a chaos spend names unless ``model`` says otherwise


class HoldQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    ms = fields.Integer(required=True, strict=False,
                        validate=validate.Range(min=0, max=MAX_HOLD_MS))


class HeldSchema(Schema):
    tenant = fields.String(required=True)
    limit = fields.String(required=True)
    held_ms = fields.Integer(required=True)


@blp.route("/chaos/hold/<limit>", methods=["POST"])
@blp.arguments(HoldQuerySchema(), location="query", error_status_code=400)
@blp.response(200, HeldSchema)
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def hold(query, limit):
    """Take ``limit`` through the normal semaphore pair and hold it ``ms`` milliseconds."""
    with tenant_limit(limit):
        time.sleep(query["ms"] / 1000)
    return {"tenant": current_tenant("chaos.hold").tenant, "limit": limit, "held_ms": query["ms"]}


class QueryUsd(Usd):
    """An amount of USD written in a query string (text, read exactly)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError):
            raise ValidationError("Must be a number of USD.") from None
        return super()._deserialize(number, attr, data, **kwargs)


class SpendQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    usd = QueryUsd(required=True)
    model = ModelName(metadata={"description": "Default: the tenant's first allowed model, "
                                               f"or {CHAOS_MODEL!r} when it has no list"})
    ms = fields.Integer(required=True, strict=False,
                        validate=validate.Range(min=0, max=MAX_HOLD_MS))


class SpentSchema(Schema):
    tenant = fields.String(required=True)
    settled_usd = fields.Float(required=True)
    remaining_usd = fields.Float(allow_none=True, metadata={"description": "null: no cap"})


@blp.route("/chaos/spend", methods=["POST"])
@blp.arguments(SpendQuerySchema(), location="query", error_status_code=400)
@blp.response(200, SpentSchema)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def spend(query):
    """Reserve ``usd`` of the tenant's budget, hold it ``ms`` milliseconds, settle it."""
    allowed = tenant_runtime().record.allowed_models
    model = query.get("model") or (allowed[0] if allowed else CHAOS_MODEL)
    with tenant_spend(model=model, estimate_usd=usd(query["usd"])) as charge:
        time.sleep(query["ms"] / 1000)
    tenant = current_tenant("chaos.spend").tenant
    remaining = services().policy.remaining_micros(tenant)
    return {"tenant": tenant, "settled_usd": charge.estimate_usd,
            "remaining_usd": None if remaining is None else usd(remaining)}

"""POST /t/<t>/chaos/hold/<limit>?ms=N: hold a limit over HTTP (only with CHAOS_ENABLED=1)."""
from __future__ import annotations

import time

from marshmallow import RAISE, Schema, fields, validate

from ..openapi import Blueprint
from ..limits import tenant_limit
from ..runtime.context import current_tenant

blp = Blueprint("chaos", __name__, description="Fault injection (CHAOS_ENABLED=1 only)")

MAX_HOLD_MS = 30000


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

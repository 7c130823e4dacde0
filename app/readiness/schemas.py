"""Request and response shapes of the readiness endpoints (for validation and OpenAPI)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields


class StatusSchema(Schema):
    status = fields.String(required=True)


class CheckSchema(Schema):
    name = fields.String(required=True)
    ok = fields.Boolean(required=True)
    duration_ms = fields.Float(required=True)
    error = fields.String(allow_none=True, required=True)


class ReadinessSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ready", "not ready"]})
    checks = fields.List(fields.Nested(CheckSchema))
    warnings = fields.List(fields.String())


class CheckQuerySchema(Schema):
    class Meta:
        # Probes add cache-busting parameters; unknown query keys are not an error here.
        unknown = EXCLUDE


class ReadinessQuerySchema(CheckQuerySchema):
    verbose = fields.Boolean(load_default=False)
    exclude = fields.List(fields.String(validate=lambda s: 0 < len(s) <= 64),
                          load_default=list)

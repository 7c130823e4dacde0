"""Shapes of the tenant readiness endpoints."""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields


class NullableStrictBoolean(fields.Boolean):
    """true, false or null; "yes", 1 and "true" are refused."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true, false or null.")
        return value


class SetReadySchema(Schema):
    class Meta:
        unknown = RAISE

    ready = NullableStrictBoolean(required=True, metadata={
        "description": "true or false sets the override; null clears it"})

    @staticmethod
    def fast_load(data) -> dict | None:
        """``data`` when it is exactly ``{"ready": true|false|null}``, else None (app/
        openapi.py): anything else is the schema's to refuse."""
        if type(data) is dict and len(data) == 1:
            ready = data.get("ready", 0)
            if ready is None or ready is True or ready is False:
                return {"ready": ready}
        return None


class TenantStatusSchema(Schema):
    tenant = fields.String(required=True)
    status = fields.String(required=True,
                           metadata={"enum": ["ready", "not ready", "unknown", "error"]})
    reason = fields.String(required=True, metadata={"enum": [
        "unknown_tenant", "disabled", "override", "health", "check_failed", "inherited",
        "timeout", "store_unavailable", "resolution_failed", "last_observed"]})


class SetReadyResultSchema(Schema):
    tenant = fields.String(required=True)
    status = fields.String(required=True)
    changed = fields.Boolean(required=True, metadata={
        "description": "true when this call changed the stored override"})

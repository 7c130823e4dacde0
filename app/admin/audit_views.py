"""GET /admin/audit: who changed which tenant, newest first (contract sec. 15)."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from ..services import services
from ..store.audit import ACTIONS, MAX_PAGE
from ..tenants.ids import is_valid_id
from .views import ADMIN_KEY, blp


class TenantFilter(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        tenant = super()._deserialize(value, attr, data, **kwargs)
        if not is_valid_id(tenant):
            raise ValidationError("Not a valid tenant id (a DNS label).")
        return tenant


class AuditQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    tenant = TenantFilter(metadata={"description": "Only this tenant's entries"})
    limit = fields.Integer(strict=False, load_default=100,
                           validate=validate.Range(min=1, max=MAX_PAGE),
                           metadata={"description": f"Entries per page, 1 to {MAX_PAGE}"})
    before = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "Only entries older than this id: the previous page's next_before"})


class AuditEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = fields.String(required=True, metadata={"description": "UTC, ISO 8601"})
    action = fields.String(required=True, metadata={"enum": list(ACTIONS)})
    tenant = fields.String(required=True)
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields", metadata={
        "description": "Names of the config fields changed (never their values)"})
    actor = fields.String(required=True, metadata={
        "description": "cli, server, or key:<first 8 hex digits of the key's SHA-256>"})


class AuditPageSchema(Schema):
    entries = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_before = fields.Integer(allow_none=True, metadata={
        "description": "Pass as before= for the next (older) page; null on the last"})


@blp.route("/audit")
class Audit(MethodView):
    @blp.arguments(AuditQuerySchema(), location="query", error_status_code=400)
    @blp.response(200, AuditPageSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.doc(security=ADMIN_KEY)
    def get(self, query):
        """Changes of tenant state (admin API, CLI, apply, set_ready, recheck), newest
        first; kept AUDIT_RETENTION_DAYS days."""
        limit = query["limit"]
        entries = services().store.audit.entries(query.get("tenant"), limit + 1,
                                                 query.get("before"))
        more = len(entries) > limit
        page = entries[:limit]
        return {"entries": [e.as_dict() for e in page],
                "next_before": page[-1].id if more else None}

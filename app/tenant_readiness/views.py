"""/tenant/<t>/readyz and /tenant/<t>/set_ready (contract sec. 4)."""
from __future__ import annotations

import json

from flask import current_app, jsonify, request

from ..openapi import Blueprint
from ..api_keys import request_actor, require_key
from ..services import services
from ..tenants.ids import check_tenant_id
from .schemas import SetReadyResultSchema, SetReadySchema, TenantStatusSchema

API_HEADER = "X-API-Key"

blp = Blueprint("tenant_readiness", __name__, url_prefix="/tenant",
                description="Per-tenant readiness, isolated from global readiness")


def _service():
    return services().tenant_readiness


@blp.before_request
def validate_tenant():
    # A before_request (not a URL value preprocessor) so the refusal is still counted
    # by the HTTP metrics, whose timing starts in the app's own before_request.
    if request.view_args and "tenant" in request.view_args:
        check_tenant_id(request.view_args["tenant"])


@blp.route("/<tenant>/readyz")
@blp.response(200, TenantStatusSchema)
@blp.alt_response(503, schema=TenantStatusSchema, description="Not ready, or error")
@blp.alt_response(404, schema=TenantStatusSchema, description="Unknown tenant")
@blp.alt_response(400, response="BAD_REQUEST")
def readyz(tenant):
    """This tenant's readiness; never touches global readiness."""
    status = _service().readyz(tenant)
    code = 200 if status.ready else 404 if status.reason == "unknown_tenant" else 503
    return jsonify(status.as_dict()), code


@blp.route("/<tenant>/set_ready", methods=["POST"])
@blp.arguments(SetReadySchema(), error_status_code=400)
@blp.response(200, SetReadyResultSchema)
@blp.alt_response(401, response="UNAUTHORIZED")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
@blp.doc(security=[{"ApiKey": []}])
def set_ready(body, tenant):
    """Set or clear this tenant's readiness override (header X-API-Key)."""
    status, changed = _service().set_ready(tenant, body["ready"], request_actor(API_HEADER))
    # jsonify's bytes (keys sorted, compact, a final newline), built without its provider.
    answer = json.dumps({"changed": changed, "status": status.status, "tenant": tenant},
                        separators=(",", ":"))
    return current_app.response_class(answer + "\n", mimetype="application/json")


@blp.before_request
def authenticate_writes():
    if request.method == "POST":
        require_key(API_HEADER, services().settings.api_keys)

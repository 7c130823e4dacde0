"""POST /admin/apply: a folder of tenants (contract sec. 15) over HTTP, for operators
without access to the store; ``tenantgate-admin apply DIR`` reads the folder and sends it.

The same validation and steps as ``flask tenants apply`` (app/declarative/): every body
checked first (400 ``invalid_tenants`` naming each problem, nothing written), then one
transaction per tenant, each audited with the caller's key fingerprint. Not one
transaction for the whole request: a large folder must not hold the store's write lock
for its whole length, and a run cut short is finished by sending the folder again.
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

from ..api_keys import request_actor
from ..declarative.apply import apply_bodies, succeeded
from ..errors import ApiError
from ..services import services
from .schemas import StrictBoolean
from .views import ADMIN_HEADER, ADMIN_KEY, blp

MAX_APPLY_TENANTS = 10_000


class ApplySchema(Schema):
    class Meta:
        unknown = RAISE

    tenants = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True,
                          validate=validate.Length(max=MAX_APPLY_TENANTS), metadata={
                              "description": "Tenant id -> its PUT /admin/tenants/<t> body"})
    prune = StrictBoolean(load_default=False, metadata={
        "description": "Also disable (never purge) stored tenants not listed"})
    dry_run = StrictBoolean(load_default=False, metadata={
        "description": "Answer the steps; write nothing"})


class StepSchema(Schema):
    tenant = fields.String(required=True)
    outcome = fields.String(required=True, metadata={"enum": [
        "created", "updated", "unchanged", "disabled", "over_cap", "failed"]})
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")
    detail = fields.String(metadata={"description": "Why over_cap or failed"})


class AppliedSchema(Schema):
    dry_run = fields.Boolean(required=True)
    complete = fields.Boolean(required=True, metadata={
        "description": "false: some tenant was refused (label cap, or the store)"})
    steps = fields.List(fields.Nested(StepSchema), required=True)


@blp.route("/apply")
class Apply(MethodView):
    @blp.arguments(ApplySchema(), error_status_code=400)
    @blp.response(200, AppliedSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.doc(security=ADMIN_KEY)
    def post(self, body):
        """Create, update (and with prune disable) tenants so the store matches the bodies;
        idempotent."""
        found = services()
        steps, problems = apply_bodies(
            found.store, found.settings, body["tenants"], prune=body["prune"],
            dry_run=body["dry_run"], actor=request_actor(ADMIN_HEADER))
        if problems:
            raise ApiError(400, "invalid_tenants", problems=[p.as_dict() for p in problems])
        return {"dry_run": body["dry_run"], "complete": succeeded(steps),
                "steps": [s.as_dict() for s in steps]}

"""/admin/tenants: operators manage tenants at runtime (contract sec. 7)."""
from __future__ import annotations

from flask import request
from flask.views import MethodView

from ..openapi import Blueprint
from ..api_keys import request_actor, require_key
from ..errors import ApiError
from ..services import services
from ..tenants.ids import check_tenant_id
from ..tenants.purge import purge_tenant
from ..tenants.registration import disable_tenant, put_tenant
from .schemas import DeleteQuerySchema, DeletedSchema, TenantListSchema, TenantPutSchema, \
    TenantSchema
from .transaction import in_one_transaction

blp = Blueprint("admin", __name__, url_prefix="/admin",
                description="Tenant administration (header X-Admin-Key)")

# Every admin operation needs the AdminKey scheme (declared in app/openapi.py).
ADMIN_KEY = [{"AdminKey": []}]
ADMIN_HEADER = "X-Admin-Key"


@blp.before_request
def authenticate():
    require_key(ADMIN_HEADER, services().settings.admin_keys)


@blp.before_request
def require_json_body():
    # PUT replaces the whole tenant: a body that is not JSON (curl's default form encoding,
    # or no body at all) must be refused, not read as "every field at its default".
    if request.method == "PUT":
        if not request.is_json:
            raise ApiError(415, "unsupported_media_type")
        if not request.get_data(cache=True).strip():
            raise ApiError(400, "malformed_json")


@blp.before_request
def validate_tenant():
    # A before_request (not a URL value preprocessor) so the refusal is still counted
    # by the HTTP metrics, whose timing starts in the app's own before_request.
    if request.view_args and "tenant" in request.view_args:
        check_tenant_id(request.view_args["tenant"])


def _view(record) -> dict:
    return record.as_dict()


def _get_or_404(tenant: str):
    record = services().store.tenants.get(tenant)
    if record is None:
        raise ApiError(404, "unknown_tenant")
    return record


@blp.route("/tenants")
class Tenants(MethodView):
    @blp.response(200, TenantListSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.doc(security=ADMIN_KEY)
    def get(self):
        """List every tenant."""
        return {"tenants": [_view(r) for r in services().store.tenants.list()]}


@blp.route("/tenants/<tenant>")
class Tenant(MethodView):
    # PUT and DELETE: writes and answer in one transaction. Not recheck: it waits for the
    # tenant's validator (up to VALIDATOR_TIMEOUT_SECONDS), which must not hold the lock.
    decorators = [in_one_transaction]

    @blp.response(200, TenantSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(security=ADMIN_KEY)
    def get(self, tenant):
        """One tenant."""
        return _view(_get_or_404(tenant))

    @blp.arguments(TenantPutSchema(), error_status_code=400)
    @blp.response(200, TenantSchema, description="Updated")
    @blp.alt_response(201, schema=TenantSchema, description="Created")
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @blp.doc(security=ADMIN_KEY)
    def put(self, body, tenant):
        """Create (201) or replace (200) a tenant; omitted fields take their defaults."""
        record, created = put_tenant(services().store, services().settings, tenant, body,
                                     request_actor(ADMIN_HEADER))
        return _view(record), 201 if created else 200

    @blp.arguments(DeleteQuerySchema(), location="query", error_status_code=400)
    @blp.response(200, DeletedSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    @blp.doc(security=ADMIN_KEY)
    def delete(self, query, tenant):
        """Disable and unload a tenant; ``?purge=1`` also removes its record (freeing its
        label) and its directories, answering which were removed."""
        store, actor = services().store, request_actor(ADMIN_HEADER)
        _get_or_404(tenant)
        if not query["purge"]:
            disable_tenant(store, tenant, actor)
            return {"tenant_id": tenant, "enabled": False, "purged": False}
        removed = purge_tenant(store, services().settings.data_root, tenant, actor)
        if removed is None:
            raise ApiError(404, "unknown_tenant")  # purged meanwhile by another request
        answer = {"tenant_id": tenant, "enabled": False, "purged": True, "removed": removed}
        if tenant == services().settings.default_tenant:
            # Contract sec. 11: it stays purged until the next server start registers it.
            answer["registered_again_at_start"] = True
        return answer


@blp.route("/tenants/<tenant>/recheck")
class Recheck(MethodView):
    @blp.response(200, TenantSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(security=ADMIN_KEY)
    def post(self, tenant):
        """Run the tenant's validator now and answer the tenant with its new health."""
        _get_or_404(tenant)
        services().tenants.recheck(tenant, request_actor(ADMIN_HEADER))
        return _view(_get_or_404(tenant))

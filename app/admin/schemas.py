"""Shapes of the admin API: what PUT accepts and what the tenant endpoints answer."""
from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from .. import free_json
from ..services import services
from ..limits.names import RESERVED_NAMES
from ..policy.schemas import BudgetSchema, ModelsSchema
from ..settings import DEFAULT_TENANT_LIMITS
from ..tenants.hosts import normalize_host
from ..tenants.ids import is_valid_id

LIMIT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_LIMIT = 10_000  # permits of one named limit (contract sec. 17)


class StrictBoolean(fields.Boolean):
    """JSON true/false only: "yes", 1 or "true" are refused, not guessed at."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class HostName(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        host = normalize_host(super()._deserialize(value, attr, data, **kwargs))
        if host is None:
            raise ValidationError("Not a valid host name.")
        return host


class WorkspaceId(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        workspace = super()._deserialize(value, attr, data, **kwargs)
        if not is_valid_id(workspace):
            raise ValidationError("Not a valid workspace id (a DNS label).")
        return workspace


MAX_WORKSPACES = 32  # declared workspaces per tenant: label values stay bounded


class FreeJson(fields.Dict):
    """A free-form JSON object, within the bounds of app/free_json.py."""

    def __init__(self, **kwargs):
        metadata = {"description": f"Free-form JSON object, at most {free_json.MAX_BYTES} "
                                   f"bytes serialised and {free_json.MAX_DEPTH} levels deep"}
        super().__init__(keys=fields.String(), metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        refused = free_json.problem(value)
        if refused:
            raise ValidationError(refused)
        return value


class NamedLimits(fields.Dict):
    """Limit overrides: each 1 to MAX_LIMIT; with the defaults, at most
    MAX_LIMITS_PER_TENANT names (the app's setting; the OpenAPI document states it)."""

    def __init__(self, **kwargs):
        super().__init__(
            keys=fields.String(validate=[validate.Regexp(LIMIT_NAME),
                                         validate.NoneOf(RESERVED_NAMES)]),
            values=fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_LIMIT)),
            metadata={"max_limits_setting": True, "description": (
                f"Concurrency limit overrides, each 1 to {MAX_LIMIT}; with the defaults "
                f"({', '.join(sorted(DEFAULT_TENANT_LIMITS))}) at most MAX_LIMITS_PER_TENANT "
                "names")},
            **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        cap = services().settings.max_limits_per_tenant
        if isinstance(value, dict) and len(set(value) | set(DEFAULT_TENANT_LIMITS)) > cap:
            raise ValidationError(f"At most {cap} named limits, the "
                                  f"{len(DEFAULT_TENANT_LIMITS)} defaults included.")
        return super()._deserialize(value, attr, data, **kwargs)


# Upper bounds that keep every sum of sizes within 64 bits, whatever is configured.
MAX_QUOTA_BYTES = 1 << 50  # 1 PiB
MAX_QUOTA_UPLOADS = 10_000_000


class QuotaSchema(Schema):
    """Per-tenant upload quota (contract sec. 17); an omitted field takes the server default."""

    class Meta:
        unknown = RAISE

    upload_bytes = fields.Integer(strict=True, validate=validate.Range(0, MAX_QUOTA_BYTES),
                                  metadata={"description": "Default: TENANT_UPLOAD_QUOTA_BYTES"})
    uploads = fields.Integer(strict=True, validate=validate.Range(0, MAX_QUOTA_UPLOADS),
                             metadata={"description": "Default: TENANT_UPLOAD_QUOTA_COUNT"})


class TenantPutSchema(Schema):
    class Meta:
        unknown = RAISE

    data_dir = fields.String(validate=validate.Length(min=1, max=4096), metadata={
        "description": "Absolute or relative to TENANT_DATA_ROOT; must stay inside it. "
                       "Default: TENANT_DATA_ROOT/<tenant>/data"})
    uploads_dir = fields.String(validate=validate.Length(min=1, max=4096), metadata={
        "description": "Default: TENANT_DATA_ROOT/<tenant>/uploads"})
    enabled = StrictBoolean(load_default=True)
    hosts = fields.List(HostName(), validate=validate.Length(max=32), load_default=list)
    limits = NamedLimits(load_default=dict)
    extra = FreeJson(load_default=dict)
    quota = fields.Nested(QuotaSchema(), load_default=dict)
    models = fields.Nested(ModelsSchema(), load_default=dict)
    budget = fields.Nested(BudgetSchema(), load_default=dict)
    workspaces = fields.List(
        WorkspaceId(), validate=validate.Length(min=1, max=MAX_WORKSPACES), allow_none=True,
        load_default=None, metadata={"description": (
            "The X-Workspace values this tenant accepts (404 unknown_workspace for others; "
            "a request without the header is workspace main). Omitted or null: any valid "
            "workspace id")})

    @validates("hosts")
    def unique_hosts(self, hosts, **kwargs):
        if len(set(hosts)) != len(hosts):
            raise ValidationError("Hosts must be unique.")

    @validates("workspaces")
    def unique_workspaces(self, workspaces, **kwargs):
        if workspaces is not None and len(set(workspaces)) != len(workspaces):
            raise ValidationError("Workspaces must be unique.")


class HealthSchema(Schema):
    state = fields.String(metadata={"enum": ["pending", "healthy", "unverified", "disabled"]})
    reason = fields.String(allow_none=True)
    last_checked_at = fields.String(allow_none=True)


class TenantSchema(Schema):
    tenant_id = fields.String(required=True)
    data_dir = fields.String(required=True)
    uploads_dir = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    hosts = fields.List(fields.String())
    limits = fields.Dict(keys=fields.String(), values=fields.Integer())
    extra = fields.Dict()
    quota = fields.Dict(keys=fields.String(), values=fields.Integer())
    models = fields.Dict(metadata={"description": '{"allowed": [...]}, or {}: every model'})
    budget = fields.Dict(keys=fields.String(), values=fields.Float(),
                         metadata={"description": "daily_cap_usd, max_per_request_usd"})
    workspaces = fields.List(fields.String(), allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    health = fields.Nested(HealthSchema)


class TenantListSchema(Schema):
    tenants = fields.List(fields.Nested(TenantSchema))


class DeleteQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    purge = fields.Boolean(load_default=False)


class DeletedSchema(Schema):
    tenant_id = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    purged = fields.Boolean(required=True, metadata={
        "description": "true: the record is gone and its label is free"})
    removed = fields.List(fields.String(), metadata={
        "description": "With purge: the tenant's directories, deleted with their contents "
                       "(those inside TENANT_DATA_ROOT that no other tenant shares)"})
    registered_again_at_start = fields.Boolean(metadata={
        "description": "With purge of DEFAULT_TENANT: true, it is registered again (empty) "
                       "when the server next starts"})

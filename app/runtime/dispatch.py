"""Tenant dispatch: which tenant a request is for, and the context it runs in.

``/t/<t>/...`` names the tenant in the path; the same routes without the prefix
serve the tenant whose ``hosts`` match the Host header, else DEFAULT_TENANT.
Application teams register their own tenant-scoped blueprints the same way.
"""
from __future__ import annotations

import flask_smorest
from flask import Blueprint, Flask, g, request

from ..errors import ApiError, answer
from ..limits.names import THREAD_SHARE_LIMIT
from ..openapi import api_of
from ..services import services
from ..tenants.ids import check_tenant_id, check_workspace_id
from .context import TenantContext, push_request_context
from .registry import TenantDisabled, TenantNotFound, TenantPending, TenantUnavailable
from .tenant_runtime import TenantRuntime
from .thread_share import TenantBusy

TENANT_PREFIX = "/t/<tenant>"
# Tenants whose requests are answered before any view runs (app/errors.py says how).
UNSERVED = (TenantNotFound, TenantDisabled, TenantPending, TenantUnavailable)


def _take_tenant_from_path(endpoint, values):
    if values and "tenant" in values:
        g.tenant_in_path = values.pop("tenant")  # checked in _enter_tenant


def _enter_tenant():
    found = services()
    tenant = g.pop("tenant_in_path", None)
    if tenant is not None:
        check_tenant_id(tenant)
    else:
        tenant = found.tenants.tenant_for_host(request.host) or found.settings.default_tenant
    workspace = check_workspace_id(request.headers.get("X-Workspace", "main"))
    _take_thread_share(found, tenant)
    try:
        g.tenant_runtime = found.tenants.runtime(tenant)
    except UNSERVED as exc:
        return answer(exc)  # answered here: no exception through Flask's handlers
    # The runtime's record is the store's current one (rebuilt when it changes): the
    # declared workspaces cost no lookup of their own.
    declared = g.tenant_runtime.record.workspaces
    if declared is not None and workspace not in declared:
        raise ApiError(404, "unknown_workspace")
    push_request_context(TenantContext(tenant, workspace))


def _take_thread_share(found, tenant: str) -> None:
    if not found.thread_share.try_enter(tenant):
        found.limiter.counter.add(tenant, THREAD_SHARE_LIMIT, "tenant")
        raise TenantBusy(found.thread_share.per_tenant)
    g.tenant_thread_share = tenant


def leave_thread_share(exc: BaseException | None = None) -> None:
    """teardown_request: the request's slot of its tenant's thread share, given back."""
    tenant = g.pop("tenant_thread_share", None)
    if tenant is not None:
        services().thread_share.leave(tenant)


def tenant_runtime() -> TenantRuntime:
    """The runtime of the request's tenant (inside a tenant-scoped view)."""
    return g.tenant_runtime


def register_tenant_blueprint(app: Flask, blueprint: Blueprint) -> None:
    """Serve ``blueprint`` for every tenant: under /t/<t>/ and un-prefixed (host or default).

    Its views run with the TenantContext on ``flask.g`` (``current_tenant()``) and
    the tenant's runtime (``tenant_runtime()``); unknown, disabled, failed and
    pending tenants are answered before the view runs. A flask-smorest blueprint is also
    described in the OpenAPI document.
    """
    documented = isinstance(blueprint, flask_smorest.Blueprint)
    register = api_of(app).register_blueprint if documented else app.register_blueprint
    default_name = f"{blueprint.name}_default_tenant"
    own_prefix = (blueprint.url_prefix or "").rstrip("/")
    register(blueprint, url_prefix=TENANT_PREFIX + own_prefix)
    register(blueprint, name=default_name, url_prefix=own_prefix or None)
    # Hooks go on the app, keyed by the registered names: the blueprint object itself
    # stays untouched, so it can be registered on any number of apps.
    for name in (blueprint.name, default_name):
        app.url_value_preprocessors.setdefault(name, []).append(_take_tenant_from_path)
        app.before_request_funcs.setdefault(name, []).append(_enter_tenant)

"""Tenant dispatch: which tenant a request is for, and the context it runs in.

``/t/<t>/...`` names the tenant in the path; the same routes without the prefix
serve the tenant whose ``hosts`` match the Host header, else DEFAULT_TENANT.
Application teams register their own tenant-scoped blueprints the same way.
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, request

from ..errors import ApiError
from ..limits.names import THREAD_SHARE_LIMIT
from ..tenants.ids import check_tenant_id, check_workspace_id
from .context import TenantContext, push_request_context
from .tenant_runtime import TenantRuntime
from .thread_share import ThreadShare

TENANT_PREFIX = "/t/<tenant>"


def _take_tenant_from_path(endpoint, values):
    if values and "tenant" in values:
        g.tenant_in_path = values.pop("tenant")  # checked in _enter_tenant


def _enter_tenant():
    host = current_app.extensions["tenantgate.tenant_host"]
    tenant = g.pop("tenant_in_path", None)
    if tenant is not None:
        check_tenant_id(tenant)
    else:
        tenant = host.tenant_for_host(request.host) or \
            current_app.extensions["tenantgate.settings"].default_tenant
    workspace = check_workspace_id(request.headers.get("X-Workspace", "main"))
    _take_thread_share(tenant)
    g.tenant_runtime = host.runtime(tenant)
    push_request_context(TenantContext(tenant, workspace))


def _take_thread_share(tenant: str) -> None:
    share = current_app.extensions["tenantgate.thread_share"]
    if not share.try_enter(tenant):
        current_app.extensions["tenantgate.limiter"].counter.add(tenant, THREAD_SHARE_LIMIT,
                                                                 "tenant")
        raise ApiError(429, "tenant_busy", headers={"Retry-After": "1"},
                       limit=share.per_tenant)
    g.tenant_thread_share = tenant


def _leave_thread_share(exc: BaseException | None = None) -> None:
    tenant = g.pop("tenant_thread_share", None)
    if tenant is not None:
        current_app.extensions["tenantgate.thread_share"].leave(tenant)


def init_thread_share(app: Flask, share: ThreadShare) -> None:
    app.extensions["tenantgate.thread_share"] = share
    app.teardown_request(_leave_thread_share)


def tenant_runtime() -> TenantRuntime:
    """The runtime of the request's tenant (inside a tenant-scoped view)."""
    return g.tenant_runtime


def register_tenant_blueprint(app: Flask, blueprint: Blueprint, api=None) -> None:
    """Serve ``blueprint`` for every tenant: under /t/<t>/ and un-prefixed (host or default).

    Its views run with the TenantContext on ``flask.g`` (``current_tenant()``) and
    the tenant's runtime (``tenant_runtime()``); unknown, disabled, failed and
    pending tenants are answered before the view runs.
    """
    register = api.register_blueprint if api is not None else app.register_blueprint
    default_name = f"{blueprint.name}_default_tenant"
    own_prefix = (blueprint.url_prefix or "").rstrip("/")
    register(blueprint, url_prefix=TENANT_PREFIX + own_prefix)
    register(blueprint, name=default_name, url_prefix=own_prefix or None)
    # Hooks go on the app, keyed by the registered names: the blueprint object itself
    # stays untouched, so it can be registered on any number of apps.
    for name in (blueprint.name, default_name):
        app.url_value_preprocessors.setdefault(name, []).append(_take_tenant_from_path)
        app.before_request_funcs.setdefault(name, []).append(_enter_tenant)

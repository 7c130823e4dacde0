"""``flask --app wsgi tenants ...``: the admin operations, working directly on the store."""
from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from ..errors import ApiError, api_error_for
from ..services import services
from ..store import StoreUnavailable
from ..store.audit import CLI_ACTOR
from ..tenants.ids import check_tenant_id
from ..tenants.purge import PurgeFailed, purge_tenant
from ..tenants.registration import disable_tenant, put_tenant
from .schemas import TenantPutSchema
from .table import print_tenant_table

tenants_cli = AppGroup("tenants", help="Manage tenants in the tenant store.")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _tenant_arg(tenant: str) -> str:
    try:
        return check_tenant_id(tenant)
    except ApiError:
        _fail(f"invalid tenant id {tenant!r} (a DNS label: a-z, 0-9 and '-')")
    raise AssertionError("unreachable")


def _describe(error: ApiError) -> str:
    details = ", ".join(f"{k}={json.dumps(v)}" for k, v in error.extra.items())
    return error.code + (f" ({details})" if details else "")


def _run(action):
    """Run ``action``; a refusal is one line on stderr and exit status 1, as the API would
    answer it (app/errors.py), with the detail an operator at the console may see."""
    try:
        return action()
    except StoreUnavailable as exc:
        _fail(f"store unavailable: {exc}")
    except PurgeFailed as exc:
        _fail(str(exc))
    except Exception as exc:  # answered like the API: anything unexpected goes on up
        answer = api_error_for(exc)
        if answer is None:
            raise
        _fail(_describe(answer))


@tenants_cli.command("list")
def list_tenants():
    """List every tenant."""
    records = _run(lambda: services().store.tenants.list())
    print_tenant_table([r.as_dict() for r in records])


@tenants_cli.command("show")
@click.argument("tenant")
def show(tenant):
    """Show one tenant as JSON."""
    tenant = _tenant_arg(tenant)
    record = _run(lambda: services().store.tenants.get(tenant))
    if record is None:
        _fail(f"unknown tenant {tenant}")
    click.echo(json.dumps(record.as_dict(), indent=2, sort_keys=True))


@tenants_cli.command("put")
@click.argument("tenant")
@click.option("--data-dir", help="Default: TENANT_DATA_ROOT/<tenant>/data")
@click.option("--uploads-dir", help="Default: TENANT_DATA_ROOT/<tenant>/uploads")
@click.option("--enabled/--disabled", default=True, show_default=True)
@click.option("--host", "hosts", multiple=True, help="Host name served by this tenant (repeat)")
@click.option("--limit", "limits", multiple=True, metavar="NAME=N",
              help="Concurrency limit override (repeat)")
@click.option("--quota", "quota", multiple=True, metavar="NAME=N",
              help="Upload quota: upload_bytes=N or uploads=N (repeat)")
@click.option("--extra", default="{}", metavar="JSON", help="Free-form JSON object")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A model the tenant may use (repeat); none given: every model")
@click.option("--daily-cap-usd", metavar="USD", help="Spend allowed per UTC day")
@click.option("--max-per-request-usd", metavar="USD", help="Largest estimate of one spend")
@click.option("--workspace", "workspaces", multiple=True,
              help="A workspace this tenant accepts in X-Workspace (repeat); none: any")
def put(tenant, data_dir, uploads_dir, enabled, hosts, limits, quota, extra, models,
        daily_cap_usd, max_per_request_usd, workspaces):
    """Create or replace a tenant (omitted options take their defaults)."""
    tenant = _tenant_arg(tenant)
    body = {"enabled": enabled, "hosts": list(hosts), "limits": _pairs("--limit", limits),
            "quota": _pairs("--quota", quota), "extra": _json_object(extra),
            "models": {"allowed": list(models)} if models else {},
            "budget": _budget(daily_cap_usd, max_per_request_usd)}
    if workspaces:
        body["workspaces"] = list(workspaces)
    if data_dir:
        body["data_dir"] = data_dir
    if uploads_dir:
        body["uploads_dir"] = uploads_dir
    try:
        body = TenantPutSchema().load(body)
    except ValidationError as exc:
        _fail(f"invalid options: {json.dumps(exc.messages, sort_keys=True)}")
    settings = services().settings
    record, created = _run(lambda: put_tenant(services().store, settings, tenant, body,
                                              CLI_ACTOR))
    click.echo(f"{'created' if created else 'updated'} tenant {tenant}")
    click.echo(json.dumps(record.as_dict(), indent=2, sort_keys=True))


@tenants_cli.command("disable")
@click.argument("tenant")
def disable(tenant):
    """Disable a tenant (its record and label stay)."""
    tenant = _tenant_arg(tenant)
    if _run(lambda: disable_tenant(services().store, tenant, CLI_ACTOR)) is None:
        _fail(f"unknown tenant {tenant}")
    click.echo(f"disabled tenant {tenant}")


@tenants_cli.command("purge")
@click.argument("tenant")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def purge(tenant, yes):
    """Remove a tenant's record, freeing its label, and its directories with their files."""
    tenant = _tenant_arg(tenant)
    if not yes and not click.confirm(f"Purge tenant {tenant}?", default=False):
        _fail("not confirmed; nothing changed")
    root = services().settings.data_root
    if _run(lambda: purge_tenant(services().store, root, tenant, CLI_ACTOR)) is None:
        _fail(f"unknown tenant {tenant}")
    click.echo(f"purged tenant {tenant}")


def _pairs(option: str, pairs) -> dict:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value.strip().isdigit():
            _fail(f"{option} takes NAME=N with N a whole number, got {pair!r}")
        found[name.strip()] = int(value)
    return found


def _budget(daily_cap_usd: str | None, max_per_request_usd: str | None) -> dict:
    budget = {}
    for name, text in (("daily_cap_usd", daily_cap_usd),
                       ("max_per_request_usd", max_per_request_usd)):
        if text is None:
            continue
        try:
            budget[name] = Decimal(text)  # exact: the schema refuses a 7th decimal
        except InvalidOperation:
            _fail(f"--{name.replace('_', '-')} takes a number of USD, got {text!r}")
    return budget


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        _fail("--extra must be a JSON object")
    if not isinstance(value, dict):
        _fail("--extra must be a JSON object")
    return value

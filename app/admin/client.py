"""``tenantgate-admin``: manage tenants of a running server over HTTP (/admin/tenants).

The key comes from TENANT_ADMIN_KEY (the first, if several) or --key; it is sent
only in the X-Admin-Key header and never printed.
"""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click

from ..declarative.folders import locate, read_tree
from .table import print_tenant_table


class Client:
    def __init__(self, url: str, key: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("X-Admin-Key", self.key)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {"error": f"HTTP {exc.code}"}


def _done(status: int, body: dict, ok_message: str | None = None) -> None:
    if status >= 400:
        details = {k: v for k, v in body.items() if k != "error"}
        suffix = f" {json.dumps(details, sort_keys=True)}" if details else ""
        click.echo(f"error: HTTP {status} {body.get('error', 'unknown')}{suffix}", err=True)
        sys.exit(1)
    if ok_message:
        click.echo(ok_message)


@click.group()
@click.option("--url", envvar="TENANTGATE_URL", default="http://127.0.0.1:8000",
              show_default=True, help="Server base URL (env TENANTGATE_URL)")
@click.option("--key", envvar="TENANT_ADMIN_KEY", required=True, show_envvar=True,
              help="Admin key (env TENANT_ADMIN_KEY; the first of a comma-separated list)")
@click.pass_context
def main(ctx, url, key):
    """Manage the tenants of a running Tenantgate server."""
    ctx.obj = Client(url, key.split(",")[0].strip())


def _tenant_path(tenant: str, suffix: str = "") -> str:
    # Quoted whole: an argument like "acme?purge=1" or "a b" stays one (invalid) tenant id.
    return f"/admin/tenants/{urllib.parse.quote(tenant, safe='')}{suffix}"


def _call(ctx, method, path, body=None):
    try:
        return ctx.obj.call(method, path, body)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        click.echo(f"error: cannot reach {ctx.obj.url}: {reason}", err=True)
        sys.exit(1)


@main.command("list")
@click.pass_context
def list_tenants(ctx):
    """List every tenant."""
    status, body = _call(ctx, "GET", "/admin/tenants")
    _done(status, body)
    print_tenant_table(body["tenants"])


@main.command()
@click.argument("tenant")
@click.pass_context
def show(ctx, tenant):
    """Show one tenant as JSON."""
    status, body = _call(ctx, "GET", _tenant_path(tenant))
    _done(status, body)
    click.echo(json.dumps(body, indent=2, sort_keys=True))


@main.command()
@click.argument("tenant")
@click.option("--data-dir")
@click.option("--uploads-dir")
@click.option("--enabled/--disabled", default=True, show_default=True)
@click.option("--host", "hosts", multiple=True)
@click.option("--limit", "limits", multiple=True, metavar="NAME=N")
@click.option("--extra", default=None, metavar="JSON")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A model the tenant may use (repeat); none given: every model")
@click.option("--daily-cap-usd", metavar="USD")
@click.option("--max-per-request-usd", metavar="USD")
@click.option("--workspace", "workspaces", multiple=True,
              help="A workspace this tenant accepts in X-Workspace (repeat); none: any")
@click.pass_context
def put(ctx, tenant, data_dir, uploads_dir, enabled, hosts, limits, extra, models,
        daily_cap_usd, max_per_request_usd, workspaces):
    """Create or replace a tenant."""
    body: dict = {"enabled": enabled, "hosts": list(hosts)}
    if workspaces:
        body["workspaces"] = list(workspaces)
    if models:
        body["models"] = {"allowed": list(models)}
    budget = {name: _usd(text, name) for name, text in (
        ("daily_cap_usd", daily_cap_usd), ("max_per_request_usd", max_per_request_usd))
        if text is not None}
    if budget:
        body["budget"] = budget
    if data_dir:
        body["data_dir"] = data_dir
    if uploads_dir:
        body["uploads_dir"] = uploads_dir
    if limits:
        try:
            body["limits"] = {n: int(v) for n, _, v in (p.partition("=") for p in limits)}
        except ValueError:
            raise click.BadParameter("NAME=N with N an integer", param_hint="--limit")
    if extra is not None:
        try:
            body["extra"] = json.loads(extra)
        except ValueError:
            raise click.BadParameter("must be JSON", param_hint="--extra")
    status, answer = _call(ctx, "PUT", _tenant_path(tenant), body)
    _done(status, answer, f"{'created' if status == 201 else 'updated'} tenant {tenant}")


def _usd(text: str, name: str) -> float | int:
    """A JSON number as written (the server refuses a seventh decimal, not this)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise click.BadParameter("a number of USD", param_hint=f"--{name.replace('_', '-')}")
    return value


@main.command()
@click.argument("tenant")
@click.pass_context
def disable(ctx, tenant):
    """Disable and unload a tenant."""
    status, body = _call(ctx, "DELETE", _tenant_path(tenant))
    _done(status, body, f"disabled tenant {tenant}")


@main.command()
@click.argument("tenant")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@click.pass_context
def purge(ctx, tenant, yes):
    """Remove a tenant's record, freeing its label, and its directories with their files."""
    if not yes and not click.confirm(f"Purge tenant {tenant}?", default=False):
        click.echo("error: not confirmed; nothing changed", err=True)
        sys.exit(1)
    status, body = _call(ctx, "DELETE", _tenant_path(tenant, "?purge=1"))
    _done(status, body, f"purged tenant {tenant}")


@main.command()
@click.argument("tenant")
@click.pass_context
def recheck(ctx, tenant):
    """Run the tenant's validator now and show its health."""
    status, body = _call(ctx, "POST", _tenant_path(tenant, "/recheck"))
    _done(status, body)
    click.echo(json.dumps(body.get("health", body), indent=2, sort_keys=True))


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing")
@click.option("--prune", is_flag=True,
              help="Also disable (never purge) stored tenants that have no folder")
@click.pass_context
def apply(ctx, directory, dry_run, prune):
    """Make the server's tenants match a folder (POST /admin/apply): DIR/<tenant>/tenant.yaml,
    and optionally routing.yaml and budgets.yaml."""
    bodies, problems = read_tree(Path(directory))
    _problems_or_pass(directory, problems)
    click.echo(f"sending {len(bodies)} tenant folders from {directory}", err=True)
    status, body = _call(ctx, "POST", "/admin/apply",
                         {"tenants": bodies, "prune": prune, "dry_run": dry_run})
    if status == 400 and body.get("error") == "invalid_tenants":
        _problems_or_pass(directory, [locate(p.get("tenant"), p.get("field"),
                                             p.get("message", "")) for p in body["problems"]])
    _done(status, body)
    counts: dict[str, int] = {}
    for step in body["steps"]:
        click.echo(_step_line(step))
        counts[step["outcome"]] = counts.get(step["outcome"], 0) + 1
    parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    click.echo(f"{len(body['steps'])} tenants: {parts or 'nothing to do'}"
               + ("; dry run, nothing written" if dry_run else ""), err=True)
    if not body["complete"]:
        sys.exit(1)


def _step_line(step: dict) -> str:
    tenant, outcome = step["tenant"], step["outcome"]
    if outcome == "updated":
        return f"{tenant}: updated: {', '.join(step['fields'])}"
    if outcome == "disabled":
        return f"{tenant}: disabled (no folder)"
    if outcome in ("over_cap", "failed"):
        verb = "not created" if outcome == "over_cap" else "not applied"
        return f"{tenant}: {verb}: {step.get('detail', outcome)}"
    return f"{tenant}: {outcome}"


def _problems_or_pass(directory: str, problems) -> None:
    if problems:
        for problem in problems:
            click.echo(problem.line(directory), err=True)
        click.echo(f"{len(problems)} problem(s) in {directory}; nothing written", err=True)
        sys.exit(1)


@main.command()
@click.option("--tenant", help="Only this tenant's entries")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.pass_context
def audit(ctx, tenant, limit):
    """Show who changed which tenant, newest first (GET /admin/audit)."""
    query = {"limit": limit, **({"tenant": tenant} if tenant else {})}
    status, body = _call(ctx, "GET", "/admin/audit?" + urllib.parse.urlencode(query))
    _done(status, body)
    for entry in body["entries"]:
        changed = ", ".join(entry["fields"]) or "-"
        click.echo(f"{entry['at']}  {entry['actor']:<12}  {entry['action']:<18}  "
                   f"{entry['tenant']}  {changed}")

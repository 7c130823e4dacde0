"""``flask --app wsgi tenants apply DIR [--dry-run] [--prune]``: a folder of tenants, applied
to the store directly (actor ``cli`` in the audit log).

Every problem is one line naming the file and field, on stderr, and then nothing is
written (exit status 1). Otherwise one line per tenant as it is committed, and a summary;
exit status 1 when the label cap or the store refused a tenant.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..services import services
from ..store import StoreUnavailable
from ..store.audit import CLI_ACTOR
from .apply import apply_bodies, succeeded, summary
from .folders import Problem, locate, read_tree
from .plan import validate


def read_folder_or_exit(directory: str) -> dict:
    """The tenant bodies of ``directory``; exits 1 after printing every problem (those of
    the tenants whose files could be read are checked against the schema too)."""
    bodies, problems = read_tree(Path(directory))
    if problems:
        broken = {p.tenant for p in problems}
        _, more = validate(services().settings,
                           {t: b for t, b in bodies.items() if t not in broken})
        problems += [locate(p.tenant, p.field, p.message) for p in more]
    report_problems_or_pass(directory, problems)
    return bodies


def report_problems_or_pass(directory: str, problems: list[Problem]) -> None:
    if not problems:
        return
    for problem in problems:
        click.echo(problem.line(directory), err=True)
    click.echo(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in {directory}; "
               "nothing written", err=True)
    sys.exit(1)


@click.command("apply")
@with_appcontext
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing")
@click.option("--prune", is_flag=True,
              help="Also disable (never purge) stored tenants that have no folder")
def apply_command(directory, dry_run, prune):
    """Make the store match a folder of tenants: DIR/<tenant>/tenant.yaml (and optionally
    routing.yaml and budgets.yaml)."""
    bodies = read_folder_or_exit(directory)
    click.echo(f"checking {len(bodies)} tenant folders in {directory}", err=True)
    found = services()
    try:
        steps, problems = apply_bodies(
            found.store, found.settings, bodies, prune=prune, dry_run=dry_run,
            actor=CLI_ACTOR, report=lambda step: click.echo(step.line()))
    except StoreUnavailable as exc:
        click.echo(f"error: store unavailable: {exc}; tenants listed above are applied, "
                   "apply again to finish", err=True)
        sys.exit(1)
    report_problems_or_pass(directory, [locate(p.tenant, p.field, p.message)
                                        for p in problems])
    click.echo(summary(steps, dry_run), err=True)
    if not succeeded(steps):
        sys.exit(1)

"""Plain-text tenant tables shared by the CLI and the HTTP admin client."""
from __future__ import annotations

import click

COLUMNS = ("tenant_id", "enabled", "hosts", "data_dir")


def print_tenant_table(tenants: list[dict]) -> None:
    if not tenants:
        click.echo("no tenants")
        return
    rows = [[_cell(t.get(c)) for c in COLUMNS] for t in tenants]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(COLUMNS, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    click.echo(f"{len(tenants)} tenant(s)")


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(value) or "-"
    return str(value)

"""Admin concern: the /admin/tenants API, its CLI twin, and an HTTP client for scripts."""
from __future__ import annotations

from flask import Flask

from ..openapi import api_of
from ..declarative.cli import apply_command
from . import apply_views, audit_views  # noqa: F401  (their routes join the admin blueprint)
from .cli import tenants_cli
from .views import blp

tenants_cli.add_command(apply_command)

__all__ = ["blp", "init_app", "tenants_cli"]


def init_app(app: Flask, services) -> None:
    api_of(app).register_blueprint(blp)
    app.cli.add_command(tenants_cli)

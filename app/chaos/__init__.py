"""Fault injection for chaos tests and drills; inert unless CHAOS_ENABLED=1 (contract sec. 8)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask, services) -> None:
    """Serve the chaos routes, only when CHAOS_ENABLED=1."""
    if not services.settings.chaos_enabled:
        return
    # Imported here: the routes exist only when fault injection is on.
    from ..runtime.dispatch import register_tenant_blueprint
    from .views import blp

    register_tenant_blueprint(app, blp)

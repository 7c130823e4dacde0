"""Fault injection for chaos tests and drills; inert unless CHAOS_ENABLED=1 (contract sec. 8)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask, api) -> None:
    """Serve the chaos routes; create_app calls this only when CHAOS_ENABLED=1."""
    from ..runtime.dispatch import register_tenant_blueprint
    from .views import blp

    register_tenant_blueprint(app, blp, api)

"""Tenant readiness concern: /tenant/<t>/readyz, set_ready, and tenant readiness metrics."""
from __future__ import annotations

from flask import Flask

from ..openapi import api_of
from .metrics import TenantReadinessCollector
from .service import TenantReadiness
from .views import blp

__all__ = ["blp", "init_app", "TenantReadiness", "TenantReadinessCollector"]


def init_app(app: Flask, services) -> None:
    api_of(app).register_blueprint(blp)

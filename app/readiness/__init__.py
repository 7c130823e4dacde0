"""Readiness concern: liveness, global readiness checks, drain on SIGTERM."""
from __future__ import annotations

from flask import Flask

from ..openapi import api_of
from ..store import Store
from .checks import CheckRegistry
from .drain import Drain
from .state import GlobalReadiness
from .views import blp

__all__ = ["blp", "init_app", "Drain", "GlobalReadiness", "global_checks"]


def global_checks(store: Store, drain: Drain) -> CheckRegistry:
    """The global checks: the store is reachable (and writable), the server is not draining.

    No tenant state is ever one of them, so no tenant can flip /readyz.
    """
    checks = CheckRegistry()
    checks.add("store", store.ping, after_read=store.check_writes)
    checks.add("shutdown", drain.check)
    return checks


def init_app(app: Flask, services) -> None:
    api_of(app).register_blueprint(blp)
    # Evaluate once now so readiness_state is true from the first scrape, not 0 until probed.
    services.readiness.evaluate()

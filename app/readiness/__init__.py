"""Readiness concern: liveness, global readiness checks, drain on SIGTERM."""
from __future__ import annotations

from flask import Flask

from ..metrics.definitions import Metrics
from ..store import Store
from .checks import CheckRegistry
from .drain import Drain
from .state import GlobalReadiness
from .views import blp

__all__ = ["blp", "init_app", "Drain", "GlobalReadiness"]


def init_app(app: Flask, store: Store, metrics: Metrics) -> GlobalReadiness:
    """Register the global checks (store reachable; not draining) and the readiness state."""
    drain = Drain()
    checks = CheckRegistry()
    checks.add("store", store.ping)
    checks.add("shutdown", drain.check)
    readiness = GlobalReadiness(checks, metrics)
    app.extensions["tenantgate.drain"] = drain
    app.extensions["tenantgate.readiness"] = readiness
    # Evaluate once now so readiness_state is true from the first scrape, not 0 until probed.
    readiness.evaluate()
    return readiness

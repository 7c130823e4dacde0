"""Limits concern: named concurrency limits, tenant then global, exact across workers."""
from __future__ import annotations

from flask import Flask

from ..metrics import StoreCollector
from ..settings import Settings
from ..store import Store
from .decorators import limited, tenant_limit
from .limiter import Limiter
from .local import LocalBackend
from .metrics import LimitFamilies
from .pair import LimitRefused
from .rejections import RejectionCounter

__all__ = ["Limiter", "LimitRefused", "init_app", "limited", "tenant_limit"]


def init_app(app: Flask, store: Store, settings: Settings,
             collector: StoreCollector) -> Limiter:
    limiter = Limiter(_backend(app, settings), settings, RejectionCounter(store))
    app.extensions["tenantgate.limiter"] = limiter
    collector.add_source(LimitFamilies(store, settings, limiter))
    return limiter


def _backend(app: Flask, settings: Settings):
    if settings.limit_backend == "postgres":
        from .postgres import PostgresBackend

        return PostgresBackend(settings.db_url)
    # LIMIT_STATE_DIR unset: one process alone, with a private directory (LocalBackend).
    return LocalBackend(settings.limit_state_dir)

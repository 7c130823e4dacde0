"""Limits concern: named concurrency limits, tenant then global, exact across workers."""
from __future__ import annotations

from ..settings import Settings
from ..store import Store
from .decorators import limited, tenant_limit
from .limiter import Limiter
from .local import LocalBackend
from .metrics import LimitCollector
from .pair import LimitRefused, UnknownLimit
from .rejections import RejectionCounter

__all__ = ["Limiter", "LimitCollector", "LimitRefused", "UnknownLimit", "limited",
           "open_limiter", "tenant_limit"]


def open_limiter(settings: Settings, store: Store) -> Limiter:
    """The limiter on the backend LIMIT_BACKEND names, counting refusals in the store."""
    if settings.limit_backend == "postgres":
        from .postgres import PostgresBackend

        backend = PostgresBackend(settings.db_url)
    else:
        # LIMIT_STATE_DIR unset: one process alone, with a private directory (LocalBackend).
        backend = LocalBackend(settings.limit_state_dir)
    return Limiter(backend, settings, RejectionCounter(store))

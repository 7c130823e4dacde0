"""The default tenant (contract sec. 11): registered when the server starts, if absent.

DEFAULT_TENANT serves the un-prefixed tenant routes, so a fresh install answers
``GET /health`` with no admin call. It is registered once per server start, in the
gunicorn master before any worker runs (not by each worker: a worker that is respawned
must not bring back a default tenant an operator purged). Registration goes through the
store's atomic ensure, so several servers or hosts starting at once register it once,
and it counts in the label cap like any other tenant.
"""
from __future__ import annotations

import logging

from ..settings import Settings
from ..store import LabelCapReached, Store
from ..store.audit import SERVER_ACTOR
from .registration import ensure_tenant

log = logging.getLogger(__name__)


def register_default_tenant(store: Store, settings: Settings) -> bool:
    """Register DEFAULT_TENANT with defaults if the store has no such tenant; True if it
    was created now. A full label cap leaves it unregistered (logged), not the start."""
    if settings.default_tenant is None:
        return False
    try:
        _, created = ensure_tenant(store, settings, settings.default_tenant, SERVER_ACTOR)
    except LabelCapReached:
        log.warning("default tenant %s not registered: the label cap of %d is reached",
                    settings.default_tenant, settings.max_tenant_labels)
        return False
    if created:
        log.info("registered the default tenant %s", settings.default_tenant)
    return created

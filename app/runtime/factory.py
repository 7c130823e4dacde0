"""RuntimeFactory: builds a tenant's runtime from its stored record, and validates it."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, ContextManager

from ..chaos.faults import fault_for, inject
from ..limits.limiter import Limiter
from ..settings import Settings
from ..store import Store, TenantRecord
from .cache import NamespacedCache
from .directory_check import check_directories
from .health import PERMANENT, ValidationFailure
from .resources import TenantResources
from .tenant_runtime import TenantRuntime
from .uploads import UploadFiles


class RuntimeFactory:
    def __init__(self, settings: Settings, store: Store, limiter: Limiter,
                 app_context: Callable[[], ContextManager], resources: TenantResources):
        self._settings = settings
        self._resources = resources
        self._store = store
        self._limiter = limiter
        self._app_context = app_context

    def build(self, record: TenantRecord) -> TenantRuntime:
        self._chaos(record, "factory")
        root = Path(self._settings.data_root).resolve()
        for path in (record.data_dir, record.uploads_dir):
            # Directories are made when the tenant is registered; a missing one here has
            # vanished since, which the validator reports instead of hiding with a new one.
            if not Path(path).resolve().is_relative_to(root):
                raise ValueError(f"{path} is outside TENANT_DATA_ROOT")
        tenant = record.tenant_id
        resources = self._resources.build(record)  # raises for the first failing factory
        return TenantRuntime(record, NamespacedCache(tenant), UploadFiles(record.uploads_dir),
                             resources)

    def validate(self, runtime: TenantRuntime) -> None:
        """Every validator of the tenant, under one deadline (app/runtime/validation.py): the
        built-in one (its directories are usable and its own), then its resources' ones."""
        self._chaos(runtime.record, "validator")
        try:
            check_directories(runtime.record.data_dir, runtime.record.uploads_dir)
        except ValidationFailure as failure:
            if failure.kind == PERMANENT:
                raise
            # Transient: the resources are still checked, as a permanent failure of theirs
            # decides the state.
            runtime.resources.validate(runtime.record)
            raise
        runtime.resources.validate(runtime.record)

    def _chaos(self, record: TenantRecord, stage: str) -> None:
        if self._settings.chaos_enabled:
            fault = fault_for(record.extra, stage)
            if fault:
                inject(fault, self._store, record.tenant_id)

"""The built-in tenant factory and validator, built from the tenant's stored config."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager

from flask import Flask

from ..chaos.faults import fault_for, inject
from ..settings import Settings
from ..store import Store, TenantRecord
from .cache import NamespacedCache
from .context import TenantContext, use_tenant
from .health import PERMANENT, TRANSIENT, ValidationFailure
from .tenant_runtime import TenantRuntime
from .uploads import UploadFiles, UploadWorker

# (tenant record, limit name) -> a context manager holding that limit's permits.
PermitFactory = Callable[[TenantRecord, str], ContextManager]


def _no_permit(record: TenantRecord, limit: str) -> ContextManager:
    @contextmanager
    def nothing():
        yield
    return nothing()


class RuntimeBuilder:
    def __init__(self, app: Flask, store: Store, settings: Settings,
                 permits: PermitFactory = _no_permit):
        self._app = app
        self._store = store
        self._settings = settings
        self.permits = permits

    def factory(self, record: TenantRecord) -> Callable[[], TenantRuntime]:
        return lambda: self.build(record)

    def build(self, record: TenantRecord) -> TenantRuntime:
        self._chaos(record, "factory")
        root = Path(self._settings.data_root).resolve()
        for path in (record.data_dir, record.uploads_dir):
            # Directories are made when the tenant is registered; a missing one here has
            # vanished since, which the validator reports instead of hiding with a new one.
            if not Path(path).resolve().is_relative_to(root):
                raise ValueError(f"{path} is outside TENANT_DATA_ROOT")
        tenant = record.tenant_id
        uploads = UploadFiles(record.uploads_dir)
        worker = UploadWorker(tenant, uploads, self._store.uploads,
                              permit=lambda: self.permits(record, "ocr"),
                              context=lambda: self._background(tenant))
        return TenantRuntime(record, NamespacedCache(tenant), uploads, worker)

    def validate(self, runtime: TenantRuntime) -> None:
        """The tenant's directories are usable: data_dir listable, uploads_dir writable."""
        self._chaos(runtime.record, "validator")
        for name, path in (("data_dir", runtime.record.data_dir),
                           ("uploads_dir", runtime.record.uploads_dir)):
            _check_directory(name, Path(path))
        # A name of its own: concurrent validations must not remove each other's probe.
        probe = Path(runtime.record.uploads_dir) / f".probe-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"")
            probe.unlink(missing_ok=True)
        except OSError as exc:
            raise ValidationFailure(f"uploads_dir not writable: {exc.strerror}") from None

    @contextmanager
    def _background(self, tenant: str):
        with self._app.app_context(), use_tenant(TenantContext(tenant, "main")):
            yield

    def _chaos(self, record: TenantRecord, stage: str) -> None:
        if self._settings.chaos_enabled:
            fault = fault_for(record.extra, stage)
            if fault:
                inject(fault, self._store, record.tenant_id)


def _check_directory(name: str, path: Path) -> None:
    try:
        os.listdir(path)
    except FileNotFoundError:
        raise ValidationFailure(f"{name} {path} is missing", TRANSIENT) from None
    except NotADirectoryError:
        raise ValidationFailure(f"{name} {path} is not a directory", PERMANENT) from None
    except PermissionError:
        raise ValidationFailure(f"{name} {path} is not readable", TRANSIENT) from None

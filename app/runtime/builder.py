"""The built-in tenant factory and validator, built from the tenant's stored config."""
from __future__ import annotations

import os
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager

from flask import Flask

from ..chaos.faults import fault_for, inject
from ..settings import Settings
from ..store import Store, TenantRecord
from ..tenants.files import RefusedFile, TenantDirectory
from .cache import NamespacedCache
from .context import TenantContext, use_tenant
from .health import PERMANENT, TRANSIENT, ValidationFailure
from .tenant_runtime import TenantRuntime
from .uploads import UploadFiles, UploadWorker

# Files the validator looks at in the exams; a tenant with more is checked that far.
MAX_EXAM_FILES = 10_000

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
        """The tenant's directories are usable: data_dir listable, uploads_dir writable.

        Checked as requests use them (app/tenants/files.py): a directory swapped for a
        link since it was configured, or a hard-linked file in the exams, is a permanent
        failure (the tenant would see another tenant's files through it).
        """
        self._chaos(runtime.record, "validator")
        with _checked_directory("data_dir", runtime.record.data_dir) as data:
            _check_exams(data)
        with _checked_directory("uploads_dir", runtime.record.uploads_dir) as uploads:
            # A name of its own: concurrent validations must not remove each other's probe.
            probe = f".probe-{os.getpid()}-{uuid.uuid4().hex}"
            try:
                uploads.create(probe).close()
                uploads.remove(probe, missing_ok=True)
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


def _checked_directory(name: str, path: str) -> TenantDirectory:
    """The directory, open and listable, or the ValidationFailure saying why not."""
    try:
        directory = TenantDirectory.open(path)
    except RefusedFile:
        raise ValidationFailure(f"{name} {path} goes through a link (it was swapped since "
                                "it was configured)", PERMANENT) from None
    except FileNotFoundError:
        raise ValidationFailure(f"{name} {path} is missing", TRANSIENT) from None
    except NotADirectoryError:
        raise ValidationFailure(f"{name} {path} is not a directory", PERMANENT) from None
    except PermissionError:
        raise ValidationFailure(f"{name} {path} is not readable", TRANSIENT) from None
    try:
        directory.names()
    except PermissionError:
        directory.close()
        raise ValidationFailure(f"{name} {path} is not readable", TRANSIENT) from None
    return directory


def _check_exams(data: TenantDirectory) -> None:
    """No file in ``exams/<exam>/`` has a second hard link (bounded: MAX_EXAM_FILES)."""
    try:
        exams = data.subdirectory("exams")
    except (FileNotFoundError, NotADirectoryError, RefusedFile):
        return  # none, or skipped at use (a link is never followed)
    seen = 0
    with exams:
        for exam_name in exams.names():
            try:
                exam = exams.subdirectory(exam_name)
            except (FileNotFoundError, NotADirectoryError, RefusedFile):
                continue
            with exam:
                for file_name in exam.names():
                    seen += 1
                    if seen > MAX_EXAM_FILES:
                        return
                    _check_links(exam, f"exams/{exam_name}/{file_name}", file_name)


def _check_links(exam: TenantDirectory, shown: str, name: str) -> None:
    try:
        info = exam.lstat(name)
    except FileNotFoundError:
        return  # removed meanwhile
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        raise ValidationFailure(f"data_dir {shown} has {info.st_nlink} hard links (it may "
                                "be another tenant's file)", PERMANENT)

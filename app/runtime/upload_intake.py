"""Accepting and deleting an upload: storage reserve, quota, file, acknowledgment.

Order matters for two promises (contract sec. 17). *Tenant files never fill the disk
under the store*: an upload that would leave less than STORAGE_RESERVE_BYTES free is
refused before a byte is written. *Nothing of a refused upload stays on disk, and
nothing acknowledged is lost*: the quota is reserved in the store first (exact under
concurrency), the file is written and synced, and only then does the record become
``queued`` and its job is recorded, in one transaction: the acknowledgment. Any failure
on the way removes the file and the record.
"""
from __future__ import annotations

import errno
import logging
import os

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from ..jobs.runner import JobRunner
from ..settings import Settings
from ..store import Store, StoreUnavailable, UploadRecord
from .tenant_runtime import TenantRuntime
from .upload_job import UPLOAD_JOB
from .uploads import new_upload_id

log = logging.getLogger(__name__)

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class StorageLow(Exception):
    """The upload would eat into the free space reserved for the store and the system."""


class TenantStorageUnavailable(Exception):
    """The tenant's uploads_dir cannot be written (missing, read-only, broken)."""


def upload_quota(settings: Settings, runtime: TenantRuntime) -> dict[str, int]:
    """The tenant's quota: its own values over the server's defaults."""
    return {"upload_bytes": settings.tenant_upload_quota_bytes,
            "uploads": settings.tenant_upload_quota_count, **runtime.record.quota}


def size_of(file: FileStorage) -> int:
    stream = file.stream
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def free_bytes(path: str) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def accept_upload(store: Store, settings: Settings, runtime: TenantRuntime,
                  file: FileStorage, jobs: JobRunner) -> UploadRecord:
    """Store ``file`` for the tenant and acknowledge it; raises the refusals above or
    QuotaExceeded / StoreUnavailable, leaving nothing behind."""
    size = size_of(file)
    _check_reserve(runtime.record.uploads_dir, size, settings.storage_reserve_bytes)
    quota = upload_quota(settings, runtime)
    upload_id = new_upload_id()
    name = (secure_filename(file.filename or "") or "upload")[:200]
    store.uploads.reserve(runtime.tenant, upload_id, name, size,
                          quota["upload_bytes"], quota["uploads"])
    try:
        runtime.uploads.save(upload_id, file)
        with store.db.write():
            store.uploads.set_state(runtime.tenant, upload_id, "queued")
            jobs.submit(runtime.tenant, "main", UPLOAD_JOB, {"upload_id": upload_id},
                        job_id=upload_id)
    except OSError as exc:
        _forget(store, runtime, upload_id)
        if exc.errno in DISK_FULL:
            raise StorageLow(str(exc)) from exc
        raise TenantStorageUnavailable(exc.strerror or str(exc)) from exc
    except BaseException:
        _forget(store, runtime, upload_id)
        raise
    record = store.uploads.get(runtime.tenant, upload_id)
    assert record is not None  # just written; a purge would have unloaded the runtime
    return record


def delete_upload(store: Store, runtime: TenantRuntime, upload_id: str) -> bool:
    """Remove an upload's record, then its file; False when there was no such upload."""
    with store.db.write():
        if not store.uploads.delete(runtime.tenant, upload_id):
            return False
        store.jobs.delete(runtime.tenant, upload_id)
    _remove_file(runtime, upload_id)
    return True


def _check_reserve(uploads_dir: str, size: int, reserve: int) -> None:
    try:
        free = free_bytes(uploads_dir)
    except OSError as exc:
        raise TenantStorageUnavailable(exc.strerror or str(exc)) from exc
    if free - size < reserve:
        raise StorageLow(f"{free} bytes free, {size} asked, {reserve} reserved")


def _remove_file(runtime: TenantRuntime, upload_id: str) -> None:
    try:
        runtime.uploads.remove(upload_id)
    except OSError as exc:
        # The directory is refused (swapped for a link) or gone: nothing of this tenant's
        # may be touched there; its validator reports the directory.
        log.warning("tenant %s: file of upload %s not removed: %s", runtime.tenant,
                    upload_id, exc.strerror or exc)


def _forget(store: Store, runtime: TenantRuntime, upload_id: str) -> None:
    _remove_file(runtime, upload_id)
    try:
        with store.db.write():
            store.uploads.delete(runtime.tenant, upload_id)
            store.jobs.delete(runtime.tenant, upload_id)
    except StoreUnavailable as exc:
        # The record stays 'receiving' (never shown, never acknowledged); the pruner
        # removes it within the hour.
        log.warning("tenant %s: reservation of %s not released yet: %s", runtime.tenant,
                    upload_id, exc)

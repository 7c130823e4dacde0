"""Tenant uploads: files under the tenant's uploads_dir, records in the store, one worker thread.

Each upload gets an opaque id. Its file ``<id>.bin`` is synced to disk before the upload
is acknowledged; its record (state, checksum, error) lives in the store, so every worker
(and host) answers for it. The tenant's worker thread computes the checksum under the
tenant's ``ocr`` limit.
"""
from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, ContextManager

from werkzeug.datastructures import FileStorage

from ..limits.pair import LimitRefused
from ..store import StoreUnavailable, UploadRecords
from ..tenants.files import TenantDirectory

log = logging.getLogger(__name__)

UPLOAD_ID_LENGTH = 32
STOP_JOIN_SECONDS = 5.0
RETRY_SECONDS = 0.2


def new_upload_id() -> str:
    return uuid.uuid4().hex


def is_upload_id(value: str) -> bool:
    return len(value) == UPLOAD_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


class UploadFiles:
    """The upload files inside one tenant's uploads_dir, each opened through the directory's
    descriptor (app/tenants/files.py), never again by path: a directory swapped for a link
    to another tenant's, or a hard link to another tenant's file, is refused at use."""

    def __init__(self, uploads_dir: str):
        self.root = Path(uploads_dir)

    def save(self, upload_id: str, file: FileStorage) -> None:
        """Write and sync the file; on any failure nothing of it is left behind."""
        name = self._name(upload_id)
        with TenantDirectory.open(self.root) as directory:
            try:
                with directory.create(name) as handle:
                    file.save(handle)
                    handle.flush()
                    os.fsync(handle.fileno())
            except BaseException:
                directory.remove(name, missing_ok=True)
                raise

    def remove(self, upload_id: str) -> None:
        with TenantDirectory.open(self.root) as directory:
            directory.remove(self._name(upload_id), missing_ok=True)

    def checksum(self, upload_id: str) -> str:
        digest = hashlib.sha256()
        with TenantDirectory.open(self.root) as directory, \
                directory.open_file(self._name(upload_id)) as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                digest.update(chunk)
        return digest.hexdigest()

    @staticmethod
    def _name(upload_id: str) -> str:
        if not is_upload_id(upload_id):
            raise ValueError("not an upload id")  # never a name a client chose
        return f"{upload_id}.bin"


class UploadWorker:
    """One background thread per tenant, started on the first upload, stopped with the tenant."""

    def __init__(self, tenant: str, files: UploadFiles, records: UploadRecords,
                 permit: Callable[[], ContextManager] = nullcontext,
                 context: Callable[[], ContextManager] = nullcontext):
        self.tenant = tenant
        self._files = files
        self._records = records
        self._permit = permit
        self._context = context
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def submit(self, upload_id: str) -> None:
        self._ensure_started()
        self._queue.put(upload_id)

    def stop(self, timeout: float = STOP_JOIN_SECONDS) -> bool:
        """Signal the thread and join it; True when it is gone."""
        with self._lock:  # never between a thread's creation and its start
            self._stop.set()
            thread = self._thread
        self._queue.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _ensure_started(self) -> None:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError(f"tenant {self.tenant} is unloading")
            if self._thread is None:
                thread = threading.Thread(target=self._run, daemon=True,
                                          name=f"tenant-{self.tenant}-uploads")
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        with self._context():
            while not self._stop.is_set():
                upload_id = self._queue.get()
                if upload_id is None:
                    break
                self._handle(upload_id)

    def _handle(self, upload_id: str) -> None:
        try:
            with self._permit():
                if not self._records.set_state(self.tenant, upload_id, "processing"):
                    return  # deleted (or purged) while it waited
                sha256 = self._files.checksum(upload_id)
            self._records.set_state(self.tenant, upload_id, "done", sha256=sha256)
        except (LimitRefused, StoreUnavailable):
            # No permit now (the tenant's or the server's ocr limit is full), or the store
            # is busy: the upload stays queued and is tried again shortly, never dropped.
            if not self._stop.wait(RETRY_SECONDS):
                self._queue.put(upload_id)
        except OSError as exc:  # the file vanished or cannot be read: this upload failed
            log.warning("tenant %s: upload %s failed: %s", self.tenant, upload_id,
                        exc.strerror or type(exc).__name__)
            self._fail(upload_id, type(exc).__name__)

    def _fail(self, upload_id: str, error: str) -> None:
        try:
            self._records.set_state(self.tenant, upload_id, "failed", error=error)
        except StoreUnavailable as exc:
            log.warning("tenant %s: cannot record failure of %s: %s", self.tenant, upload_id,
                        exc)

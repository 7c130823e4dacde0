"""Tenant uploads: stored under the tenant's uploads_dir, processed by its own worker thread.

Each upload gets an opaque id; its status lives beside it on disk
(``<id>.json``, written atomically), so every gunicorn worker can answer for it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, ContextManager

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from ..errors import ApiError
from ..tenants.files import TenantDirectory

log = logging.getLogger(__name__)

UPLOAD_ID_LENGTH = 32
MAX_STATUS_BYTES = 64 * 1024
STOP_JOIN_SECONDS = 5.0
RETRY_SECONDS = 0.2


def new_upload_id() -> str:
    return uuid.uuid4().hex


def is_upload_id(value: str) -> bool:
    return len(value) == UPLOAD_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


def _write_json_atomically(path: Path, data: dict) -> None:
    # Through the directory's descriptor (app/tenants/files.py), like every upload file.
    tmp = f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    with TenantDirectory.open(path.parent) as directory:
        directory.remove(tmp, missing_ok=True)  # a leftover of a crash, same pid and thread
        with directory.create(tmp) as handle:
            handle.write(json.dumps(data).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        directory.replace(tmp, path.name)


class UploadStore:
    """Files and status records inside one tenant's uploads_dir."""

    def __init__(self, uploads_dir: str):
        self.root = Path(uploads_dir)

    def save(self, upload_id: str, file: FileStorage) -> dict:
        name = secure_filename(file.filename or "") or "upload"
        with TenantDirectory.open(self.root) as directory, \
                directory.create(f"{upload_id}.bin") as handle:
            file.save(handle)
            handle.flush()
            os.fsync(handle.fileno())
            size = os.fstat(handle.fileno()).st_size
        status = {"id": upload_id, "filename": name[:200], "size": size, "state": "queued"}
        _write_json_atomically(self._status_path(upload_id), status)
        return status

    def status(self, upload_id: str) -> dict | None:
        try:
            with TenantDirectory.open(self.root) as directory:
                data = directory.read(self._status_path(upload_id).name, MAX_STATUS_BYTES)
        except FileNotFoundError:
            return None
        return json.loads(data)

    def update(self, upload_id: str, **changes: Any) -> dict:
        status = {**(self.status(upload_id) or {"id": upload_id}), **changes}
        _write_json_atomically(self._status_path(upload_id), status)
        return status

    def process(self, upload_id: str) -> dict:
        """The processing itself: a checksum of the stored file."""
        digest = hashlib.sha256()
        with TenantDirectory.open(self.root) as directory, \
                directory.open_file(f"{upload_id}.bin") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                digest.update(chunk)
        return {"sha256": digest.hexdigest()}

    def _status_path(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.json"


class UploadWorker:
    """One background thread per tenant, started on the first upload, stopped with the tenant."""

    def __init__(self, tenant: str, store: UploadStore,
                 permit: Callable[[], ContextManager] = nullcontext,
                 context: Callable[[], ContextManager] = nullcontext):
        self.tenant = tenant
        self._store = store
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
                self._store.update(upload_id, state="processing")
                result = self._store.process(upload_id)
            self._store.update(upload_id, state="done", **result)
        except ApiError as refused:
            if refused.status not in (429, 503):
                raise
            # No permit now (the tenant's or the server's ocr limit is full): the upload
            # stays queued and is tried again shortly, never dropped.
            if not self._stop.wait(RETRY_SECONDS):
                self._queue.put(upload_id)
        except Exception as exc:  # one bad upload must not kill the tenant's worker
            log.warning("tenant %s: upload %s failed: %s", self.tenant, upload_id, exc)
            try:
                self._store.update(upload_id, state="failed", error=type(exc).__name__)
            except Exception:  # an unreadable status record (ValueError) must not kill it either
                log.warning("tenant %s: cannot record failure of %s", self.tenant, upload_id)

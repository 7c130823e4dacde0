"""Upload retention: uploads older than UPLOAD_RETENTION_DAYS are removed, with their files,
and so are receptions a dead worker left half done (reserved, never acknowledged).

Every worker runs a pass every PRUNE_SECONDS on a thread of its own (started by the
gunicorn hook); passes on several workers or hosts at once only repeat deletes that
find nothing left to delete.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

from ..settings import Settings
from ..store import Store, StoreUnavailable
from .upload_job import UPLOAD_JOB
from .uploads import UploadFiles

log = logging.getLogger(__name__)

PRUNE_SECONDS = 600.0
# A reception takes seconds; one this old lost its worker.
STALE_RECEIVING = timedelta(hours=1)
BATCHES_PER_PASS = 20
# Finished jobs of other kinds than uploads (whose job is their status) are kept a week.
FINISHED_JOB_SECONDS = 7 * 24 * 3600.0


def _stamp(moment: datetime) -> str:
    # The store's own timestamp format, so that strings compare as times.
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UploadPruner:
    def __init__(self, store: Store, settings: Settings,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self._store = store
        self._days = settings.upload_retention_days
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One pass; returns how many uploads were removed."""
        now = self._clock()
        created_before = _stamp(now - timedelta(days=self._days)) if self._days else ""
        receiving_before = _stamp(now - STALE_RECEIVING)
        removed = 0
        directories: dict[str, str | None] = {}
        for _ in range(BATCHES_PER_PASS):
            batch = self._store.uploads.expired(created_before, receiving_before)
            for upload in batch:
                if upload.tenant_id not in directories:
                    record = self._store.tenants.get(upload.tenant_id)
                    directories[upload.tenant_id] = record.uploads_dir if record else None
                with self._store.db.write():  # the upload and its job go together
                    if self._store.uploads.delete(upload.tenant_id, upload.upload_id):
                        removed += 1
                    self._store.jobs.delete(upload.tenant_id, upload.upload_id)
                directory = directories[upload.tenant_id]
                if directory is not None:
                    UploadFiles(directory).remove(upload.upload_id)
            if len(batch) < 500:
                break
        if removed:
            log.info("upload retention: removed %d upload(s)", removed)
        self._store.jobs.prune(now.timestamp() - FINISHED_JOB_SECONDS, keep_kind=UPLOAD_JOB)
        return removed

    def start(self, interval: float = PRUNE_SECONDS) -> None:
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True,
                                        name="upload-retention")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.run_once()
            except StoreUnavailable as exc:
                log.warning("upload retention skipped a pass: %s", exc)
            except OSError as exc:  # a file that cannot be removed now: the next pass retries
                log.warning("upload retention: %s", exc)

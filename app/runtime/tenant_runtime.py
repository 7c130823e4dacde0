"""One tenant's runtime in one worker: its config, directories, cache and workers."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..store import TenantRecord
from .cache import NamespacedCache
from .uploads import UploadFiles, UploadWorker

log = logging.getLogger(__name__)


@dataclass
class TenantRuntime:
    record: TenantRecord
    cache: NamespacedCache
    uploads: UploadFiles
    worker: UploadWorker
    extras: dict = field(default_factory=dict)

    @property
    def tenant(self) -> str:
        return self.record.tenant_id

    @property
    def data_dir(self) -> Path:
        return Path(self.record.data_dir)

    def exams(self) -> list[dict]:
        """Manifests under ``<data_dir>/exams/*/manifest.json``, never outside data_dir."""
        root = self.data_dir.resolve(strict=True)
        if not root.is_dir():  # e.g. replaced by a file: unavailable, not "no exams"
            raise NotADirectoryError(f"{root} is not a directory")
        exams = []
        for manifest in sorted(root.glob("exams/*/manifest.json")):
            resolved = manifest.resolve()
            if not resolved.is_relative_to(root):
                log.warning("tenant %s: %s leaves the data directory; skipped",
                            self.tenant, manifest)
                continue
            try:
                exams.append(json.loads(resolved.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                exams.append({"exam_id": manifest.parent.name, "error": "invalid_manifest"})
        return exams

    def stop(self) -> bool:
        """Stop the tenant's workers; True when every thread is gone."""
        stopped = self.worker.stop()
        self.cache.clear()
        if not stopped:
            log.error("tenant %s: upload worker did not stop in time", self.tenant)
        return stopped

"""One tenant's runtime in one worker: its config, directories and cache (no thread: its
jobs run on the worker's job threads, app/jobs/runner.py)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .. import free_json
from ..store import TenantRecord
from ..tenants.files import SYMLINK, RefusedFile, TenantDirectory
from .cache import NamespacedCache
from .resources import BuiltResources
from .uploads import UploadFiles

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass
class TenantRuntime:
    record: TenantRecord
    cache: NamespacedCache
    uploads: UploadFiles
    # Application teams' objects (app/runtime/resources.py), closed when the runtime stops.
    resources: BuiltResources = field(default_factory=lambda: BuiltResources(""))

    @property
    def tenant(self) -> str:
        return self.record.tenant_id

    @property
    def data_dir(self) -> Path:
        return Path(self.record.data_dir)

    def exams(self) -> list[dict]:
        """Manifests under ``<data_dir>/exams/*/manifest.json``, read through
        app/tenants/files.py: never outside data_dir, never through a link.

        A link on the way (exams, an exam directory, a manifest) is skipped; a manifest
        that is not a regular file of one link within MAX_MANIFEST_BYTES is listed as
        ``{"exam_id", "error": "manifest_refused", "reason"}``, never its content.
        """
        exams = []
        with TenantDirectory.open(self.record.data_dir) as data:
            try:
                listing = data.subdirectory("exams")
            except FileNotFoundError:
                return []
            except RefusedFile:
                log.warning("tenant %s: exams is a link; skipped", self.tenant)
                return []
            with listing:
                for name in sorted(listing.names()):
                    entry = None if name.startswith(".") else self._exam(listing, name)
                    if entry is not None:
                        exams.append(entry)
        return exams

    def _exam(self, listing: TenantDirectory, name: str) -> dict | None:
        try:
            with listing.subdirectory(name) as exam:
                data = exam.read("manifest.json", MAX_MANIFEST_BYTES)
        except RefusedFile as refused:
            if refused.reason == SYMLINK:
                log.warning("tenant %s: exam %s goes through a link; skipped", self.tenant,
                            name)
                return None
            return {"exam_id": name, "error": "manifest_refused", "reason": refused.reason}
        except (FileNotFoundError, NotADirectoryError):
            return None  # not an exam (or gone meanwhile)
        except OSError:
            return {"exam_id": name, "error": "invalid_manifest"}
        try:
            manifest = json.loads(data)
        except (ValueError, RecursionError):
            return {"exam_id": name, "error": "invalid_manifest"}
        if free_json.depth(manifest) > free_json.MAX_DEPTH:
            return {"exam_id": name, "error": "invalid_manifest"}
        return manifest

    def stop(self) -> bool:
        """Unload: close the tenant's resources, drop the cache. The runtime holds no
        thread to stop (its jobs run on the worker's job threads)."""
        self.resources.close()
        self.cache.clear()
        return True

"""Upload processing as a tenant job (contract sec. 5, 13): the job of an upload has the
upload's id, is queued in the transaction that acknowledges the upload, and computes the
file's checksum under the tenant's ``ocr`` limit on whichever worker claims it."""
from __future__ import annotations

from typing import Any

from ..chaos.faults import fault_for, inject
from ..jobs.kinds import JobFailed, TenantJob
from ..services import services
from ..store import JobRecord, UploadRecord

UPLOAD_JOB = "upload"
UPLOAD_LIMIT = "ocr"


def process_upload(job: TenantJob) -> dict[str, Any]:
    """The checksum of the upload's file. A file that is gone or not a regular file is
    failed at once (no later try finds it back); the checksum is idempotent."""
    found = services()
    if found.settings.chaos_enabled:
        fault = fault_for(job.runtime.record.extra, "job")
        if fault:
            inject(fault, found.store, job.tenant)
    try:
        return {"sha256": job.runtime.uploads.checksum(job.payload["upload_id"])}
    except OSError as exc:
        raise JobFailed(type(exc).__name__) from exc


def upload_status(record: UploadRecord, job: JobRecord | None) -> dict[str, Any]:
    """What GET /t/<t>/uploads/<id> answers: the upload, and where its job is."""
    body = record.public()
    if job is None:  # an upload acknowledged before jobs existed, never migrated
        return body
    body["state"], body["attempts"] = job.state, job.attempts
    body.pop("sha256", None)
    body.pop("error", None)
    if isinstance(job.result, dict) and job.result.get("sha256"):
        body["sha256"] = job.result["sha256"]
    if job.error:
        body["error"] = job.error
    return body

"""Built-in tenant routes: health, exams, uploads (contract sec. 5)."""
from __future__ import annotations

from http import HTTPStatus

import json

from flask import current_app, jsonify, request, url_for
from marshmallow import Schema, fields

from ..openapi import Blueprint
from ..errors import ApiError
from ..request_limits import accepts_uploads
from .context import current_tenant
from .dispatch import tenant_runtime
from ..services import services
from .upload_intake import accept_upload, delete_upload
from .upload_job import upload_status as status_of_upload
from .uploads import is_upload_id

blp = Blueprint("tenant", __name__, description="Built-in tenant routes (/t/<tenant>/...)")


class TenantHealthSchema(Schema):
    status = fields.String(required=True)
    tenant = fields.String(required=True)
    workspace = fields.String()


class ExamsSchema(Schema):
    tenant = fields.String(required=True)
    exams = fields.List(fields.Dict())


class DeletedUploadSchema(Schema):
    id = fields.String(required=True)
    tenant = fields.String(required=True)
    deleted = fields.Boolean(required=True)


class UploadSchema(Schema):
    id = fields.String(required=True)
    tenant = fields.String()
    filename = fields.String()
    size = fields.Integer()
    state = fields.String(metadata={"enum": ["queued", "processing", "done", "failed"]})
    sha256 = fields.String()
    error = fields.String()
    attempts = fields.Integer()


@blp.route("/health")
@blp.response(200, TenantHealthSchema)
def health():
    """The tenant's runtime answers."""
    context = current_tenant("tenant.health")
    # Built here, not dumped through the schema: the hottest tenant route of all.
    body = json.dumps({"status": "ok", "tenant": context.tenant,
                       "workspace": context.workspace}, separators=(",", ":"))
    return current_app.response_class(body + "\n", mimetype="application/json")


@blp.route("/exams")
@blp.response(200, ExamsSchema)
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def exams():
    """Exam manifests under the tenant's data_dir/exams/*/manifest.json."""
    runtime = tenant_runtime()
    try:
        found = runtime.exams()
    except OSError:
        raise ApiError(503, "tenant_storage_unavailable") from None
    return {"tenant": runtime.tenant, "exams": found}


@blp.route("/uploads", methods=["POST"])
@accepts_uploads
@blp.response(202, UploadSchema)
@blp.alt_response(400, response="BAD_REQUEST")
@blp.alt_response(403, response="FORBIDDEN", description="Over the tenant's upload quota")
@blp.alt_response(413, response=HTTPStatus(413).name)
@blp.alt_response(503, response="SERVICE_UNAVAILABLE", description="Storage low or unusable")
@blp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}}}}}})
def upload():
    """Store a multipart ``file`` in uploads_dir and queue its job (the acknowledgment)."""
    file = request.files.get("file")
    if file is None:
        raise ApiError(400, "missing_file", field="file")
    runtime = tenant_runtime()
    found = services()
    record = accept_upload(found.store, found.settings, runtime, file, found.jobs)
    response = jsonify(record.public())
    response.status_code = 202
    response.headers["Location"] = url_for(request.endpoint.replace("upload", "upload_status"),
                                           upload_id=record.upload_id, **_tenant_args())
    return response


@blp.route("/uploads/<upload_id>")
@blp.response(200, UploadSchema)
@blp.alt_response(404, response="NOT_FOUND")
def upload_status(upload_id):
    """Where an upload is: queued, processing, done (with its sha256) or failed, and how
    many tries its job has had (``attempts``), as the store says on every worker."""
    runtime = tenant_runtime()
    store = services().store
    record = store.uploads.get(runtime.tenant, upload_id) if is_upload_id(upload_id) else None
    if record is None:
        raise ApiError(404, "unknown_upload")
    return status_of_upload(record, store.jobs.get(runtime.tenant, upload_id))


@blp.route("/uploads/<upload_id>", methods=["DELETE"])
@blp.response(200, DeletedUploadSchema)
@blp.alt_response(404, response="NOT_FOUND")
def delete_upload_view(upload_id):
    """Remove an upload: its record and its file."""
    runtime = tenant_runtime()
    if not is_upload_id(upload_id) or not delete_upload(services().store, runtime, upload_id):
        raise ApiError(404, "unknown_upload")
    return {"id": upload_id, "tenant": runtime.tenant, "deleted": True}


def _tenant_args() -> dict:
    if request.blueprint and request.blueprint.endswith("_default_tenant"):
        return {}
    return {"tenant": current_tenant("tenant.uploads").tenant}


__all__ = ["blp"]

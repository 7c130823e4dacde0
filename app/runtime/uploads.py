"""Tenant upload files: under the tenant's uploads_dir, each named for its upload's id.

Each upload gets an opaque id. Its file ``<id>.bin`` is synced to disk before the upload
is acknowledged; its record and its job (state, tries, checksum, error) live in the
store, so every worker (and host) answers for it. The job (app/runtime/upload_job.py)
computes the checksum under the tenant's ``ocr`` limit on any worker.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from werkzeug.datastructures import FileStorage

from ..tenants.files import TenantDirectory

UPLOAD_ID_LENGTH = 32


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

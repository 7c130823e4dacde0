"""Shared by the runtime tests: the admin key and small request helpers."""
from __future__ import annotations

import io
import json
import threading
from pathlib import Path

KEY = "rt-admin-key-3c9e51"
AUTH = {"X-Admin-Key": KEY}


def put(client, tenant: str, body: dict | None = None):
    return client.put(f"/admin/tenants/{tenant}", json={} if body is None else body,
                      headers=AUTH)


def recheck(client, tenant: str):
    return client.post(f"/admin/tenants/{tenant}/recheck", headers=AUTH)


def write_manifest(data_dir: Path, exam_id: str) -> Path:
    manifest = data_dir / "exams" / exam_id / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"exam_id": exam_id}), encoding="utf-8")
    return manifest


def upload(client, tenant: str, content: bytes = b"0123456789"):
    return client.post(f"/t/{tenant}/uploads", data={"file": (io.BytesIO(content), "a.txt")},
                       content_type="multipart/form-data")


def stored_files(data_root: Path, tenant: str) -> list[str]:
    return sorted(p.name for p in (data_root / tenant / "uploads").iterdir())


def threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]

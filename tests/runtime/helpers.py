"""Shared by the runtime tests: the admin key, small request helpers and bounded polling."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

KEY = "rt-admin-key-3c9e51"
AUTH = {"X-Admin-Key": KEY}
POLL_SECONDS = 10.0

T = TypeVar("T")


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


def poll(probe: Callable[[], T], done: Callable[[T], bool],
         seconds: float = POLL_SECONDS) -> T:
    """Call ``probe`` until ``done(result)`` or the bound passes; returns the last result."""
    deadline = time.monotonic() + seconds
    result = probe()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.02)  # pause inside a loop bounded by its deadline
        result = probe()
    return result


def threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]

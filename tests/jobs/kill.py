"""Shared by the jobs' process tests: uploads through a real server, and SIGKILLs."""
from __future__ import annotations

import hashlib
import io
import os
import signal
import time

from tests.support.polling import poll
from tests.support.server import Server

FINISHED = ("done", "failed")
KILL_TIMEOUT = 60.0


def post_upload(server: Server, tenant: str, content: bytes) -> str:
    response = server.request("POST", f"/t/{tenant}/uploads",
                              files={"file": ("a.txt", io.BytesIO(content))})
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "queued"
    return response.json()["id"]


def upload_status(server: Server, tenant: str, upload_id: str) -> dict:
    response = server.request("GET", f"/t/{tenant}/uploads/{upload_id}")
    assert response.status_code == 200, response.text
    return response.json()


def answered(server: Server, tenant: str, upload_id: str) -> dict | None:
    """The status, or None while no worker answers (killed, respawning)."""
    try:
        return upload_status(server, tenant, upload_id)
    except OSError:  # requests' ConnectionError is an OSError: a worker died under it
        return None


def finished(server: Server, tenant: str, upload_id: str,
             seconds: float = KILL_TIMEOUT) -> dict | None:
    return poll(lambda: answered(server, tenant, upload_id),
                lambda body: body is not None and body["state"] in FINISHED, seconds)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def kill_workers(server: Server) -> float:
    """SIGKILL every worker (as the OOM killer would); when it was done (monotonic)."""
    pids = server.worker_pids()
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # gunicorn forks new workers in their place.
    assert poll(server.worker_pids, lambda now: len(now) == server.workers
                and not set(now) & set(pids), KILL_TIMEOUT)
    return killed_at


def kill_server(server: Server) -> float:
    """SIGKILL the master and every worker at once (the host's power cut)."""
    os.killpg(server.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    server.process.wait(KILL_TIMEOUT)
    return killed_at

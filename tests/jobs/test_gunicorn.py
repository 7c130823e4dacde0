"""Nothing acknowledged is ever stuck (contract sec. 13), under a real gunicorn with two
workers on SQLite: uploads survive the SIGKILL of the workers while queued and while
processing, and the SIGKILL of the whole server."""
from __future__ import annotations

import threading
import time

import pytest

from tests.jobs.kill import (answered, finished, kill_server, kill_workers, post_upload,
                             sha256, upload_status)
from tests.runtime.helpers import AUTH, KEY
from tests.support.metrics_text import value
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

LEASE_SECONDS = 2
ENV = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": "1", "LEASE_SECONDS": str(LEASE_SECONDS),
       "JOB_POLL_SECONDS": "0.2", "JOB_RETRY_SECONDS": "0.1", "TENANT_MAX_THREAD_SHARE": "1"}
HANG = {"extra": {"chaos": {"job": "hang", "seconds": 3}}}
CONTENTS = [f"answers {i}\n".encode() * (i + 1) for i in range(5)]


def put(server, tenant: str, body: dict | None = None) -> None:
    response = server.request("PUT", f"/admin/tenants/{tenant}", json=body or {}, headers=AUTH)
    assert response.status_code in (200, 201), response.text


def hold_ocr(server, tenant: str) -> threading.Thread:
    """Hold the tenant's only ocr permit in one worker (until that worker dies)."""
    def hold():
        try:
            server.request("POST", f"/t/{tenant}/chaos/hold/ocr?ms=30000", timeout=40)
        except OSError:  # the worker holding it was killed: expected
            pass
    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    inflight = poll(lambda: value(server.request("GET", "/metrics").text,
                                  "tenant_limit_inflight", tenant=tenant, limit="ocr"),
                    lambda held: held == 1.0)
    assert inflight == 1.0
    return thread


def test_queued_uploads_reach_done_after_every_worker_is_killed(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        put(server, "acme", {"limits": {"ocr": 1}})
        hold_ocr(server, "acme")
        ids = [post_upload(server, "acme", content) for content in CONTENTS]
        assert {upload_status(server, "acme", i)["state"] for i in ids} == {"queued"}
        kill_workers(server)
        for upload_id, content in zip(ids, CONTENTS):
            body = finished(server, "acme", upload_id)
            # Never claimed before the kill (no permit), so run exactly once.
            assert (body["state"], body["attempts"], body["sha256"]) == \
                ("done", 1, sha256(content))


def test_a_processing_upload_is_taken_over_after_its_worker_is_killed(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        put(server, "slow", HANG)
        put(server, "other")
        upload_id = post_upload(server, "slow", CONTENTS[0])
        processing = poll(lambda: upload_status(server, "slow", upload_id),
                          lambda body: body["state"] == "processing")
        assert (processing["state"], processing["attempts"]) == ("processing", 1)
        killed_at = kill_workers(server)
        # The second try starts once the dead worker's lease has expired.
        taken = poll(lambda: answered(server, "slow", upload_id),
                     lambda body: body is not None and body["attempts"] == 2, 30)
        took = time.monotonic() - killed_at
        assert taken is not None and taken["attempts"] == 2
        print(f"\nSIGKILL to takeover: {took:.2f}s (LEASE_SECONDS={LEASE_SECONDS})")
        body = finished(server, "slow", upload_id)
        assert (body["state"], body["attempts"], body["sha256"]) == \
            ("done", 2, sha256(CONTENTS[0]))
        # The other tenant's uploads are processed all along.
        other = post_upload(server, "other", CONTENTS[1])
        assert finished(server, "other", other)["state"] == "done"


def test_every_acknowledged_upload_reaches_done_after_the_whole_server_is_killed(tmp_path):
    ids = {}
    with running_server(tmp_path, workers=2, env=ENV) as server:
        put(server, "acme", {"limits": {"ocr": 1}})
        put(server, "slow", HANG)
        upload_slow = post_upload(server, "slow", CONTENTS[0])
        hold_ocr(server, "acme")
        ids = {post_upload(server, "acme", content): content for content in CONTENTS}
        assert poll(lambda: upload_status(server, "slow", upload_slow)["state"],
                    lambda state: state == "processing") == "processing"
        kill_server(server)
    ids[upload_slow] = CONTENTS[0]
    with running_server(tmp_path, workers=2, env=ENV) as server:
        for upload_id, content in ids.items():
            tenant = "slow" if upload_id == upload_slow else "acme"
            body = finished(server, tenant, upload_id)
            assert (body["state"], body["sha256"]) == ("done", sha256(content))

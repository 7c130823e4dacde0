"""Durable jobs across two hosts on one PostgreSQL store (contract sec. 10, 13): a job that
host A was running when A died is run by host B; both hosts read the same status."""
from __future__ import annotations

import time

import pytest

from tests.jobs.kill import (answered, finished, kill_server, post_upload, sha256,
                             upload_status)
from tests.multihost.hosts import host_env, put_tenant
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

LEASE_SECONDS = 2
EXTRA = {"LIMIT_BACKEND": "postgres", "CHAOS_ENABLED": "1",
         "LEASE_SECONDS": str(LEASE_SECONDS), "JOB_POLL_SECONDS": "0.2"}
CONTENT = b"scanned answers\n" * 50


def host(tmp_path, name: str, url: str):
    home = tmp_path / name
    home.mkdir()
    env = host_env(url, tmp_path / "tenants", {"LIMIT_STATE_DIR": str(home / "limits"),
                                               **EXTRA})
    return running_server(home, workers=2, env=env)


def test_a_job_host_a_was_running_is_finished_by_host_b_after_a_is_killed(tmp_path,
                                                                          postgres_url):
    (tmp_path / "tenants").mkdir()
    with host(tmp_path, "host-a", postgres_url) as a:
        response = put_tenant(a, "acme", {"extra": {"chaos": {"job": "hang", "seconds": 3}}})
        assert response.status_code == 201, response.text
        upload_id = post_upload(a, "acme", CONTENT)
        # Only host A runs yet: the job is A's.
        assert poll(lambda: upload_status(a, "acme", upload_id)["state"],
                    lambda state: state == "processing") == "processing"
        with host(tmp_path, "host-b", postgres_url) as b:
            assert upload_status(b, "acme", upload_id) == upload_status(a, "acme", upload_id)
            killed_at = kill_server(a)
            taken = poll(lambda: answered(b, "acme", upload_id),
                         lambda body: body is not None and body["attempts"] == 2, 30)
            print(f"\nhost SIGKILL to takeover on the other host: "
                  f"{time.monotonic() - killed_at:.2f}s (LEASE_SECONDS={LEASE_SECONDS})")
            assert taken["attempts"] == 2
            body = finished(b, "acme", upload_id)
            assert (body["state"], body["attempts"], body["sha256"]) == \
                ("done", 2, sha256(CONTENT))
            # A job submitted on B now is run (on B) while A is gone.
            again = post_upload(b, "acme", CONTENT)
            assert finished(b, "acme", again)["state"] == "done"
    # A restarted host A reads what B recorded.
    with host(tmp_path, "host-a2", postgres_url) as a2:
        assert upload_status(a2, "acme", upload_id) == body

"""Job chaos under a real gunicorn (2 workers): one tenant's job handler that raises at every
try, or hangs, leaves other tenants' jobs, their answers and /readyz untouched (contract
sec. 8 and 13)."""
from __future__ import annotations

import pytest

from tests.chaos.test_runtime_chaos import Bystander, global_readiness
from tests.jobs.kill import finished, post_upload, sha256, upload_status
from tests.runtime.helpers import KEY
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = [pytest.mark.chaos, pytest.mark.gunicorn]

ENV = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": "1", "TENANT_MAX_THREAD_SHARE": "1",
       "JOB_MAX_ATTEMPTS": "3", "JOB_RETRY_SECONDS": "0.1", "JOB_POLL_SECONDS": "0.2"}
HANG_SECONDS = 20


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        yield server


@pytest.fixture
def steady(server, tmp_path):
    return Bystander(server, tmp_path / "tenants")


def others_are_served(server, steady, count: int = 6) -> None:
    contents = [f"other {i}".encode() for i in range(count)]
    ids = [post_upload(server, "other", content) for content in contents]
    for upload_id, content in zip(ids, contents):
        steady.check()
        body = finished(server, "other", upload_id)
        assert (body["state"], body["attempts"], body["sha256"]) == ("done", 1, sha256(content))


@pytest.mark.parametrize("fault", ["raise", "hang"])
def test_a_failing_job_handler_leaves_other_tenants_and_readyz_alone(server, steady, fault):
    steady.check()
    before = global_readiness(server)
    assert before[0] == (200, {"status": "ready"})
    chaos = {"extra": {"chaos": {"job": fault, "seconds": HANG_SECONDS}}}
    for tenant, body in (("victim", chaos), ("other", {})):
        response = server.request("PUT", f"/admin/tenants/{tenant}", json=body,
                                  headers={"X-Admin-Key": KEY})
        assert response.status_code == 201
    victims = [post_upload(server, "victim", b"victim") for _ in range(3)]
    if fault == "hang":
        # Hanging in a job thread of each worker (its share: the other threads serve on).
        poll(lambda: [upload_status(server, "victim", i)["state"] for i in victims],
             lambda states: states.count("processing") >= 2)
    others_are_served(server, steady)
    assert global_readiness(server) == before
    if fault == "raise":
        for upload_id in victims:
            body = finished(server, "victim", upload_id)
            assert (body["state"], body["attempts"], body["error"]) == \
                ("failed", 3, "InjectedFault")
    else:
        states = [upload_status(server, "victim", i)["state"] for i in victims]
        assert "done" not in states and "failed" not in states  # still hanging, not lost
    steady.check()
    assert global_readiness(server) == before

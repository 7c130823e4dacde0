"""The tenant runtime under a real gunicorn with three workers: every worker follows the store."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.helpers import AUTH, KEY, write_manifest
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

WORKERS = 3
CALLS = 60  # each on a fresh connection, spread over the workers
# 12 concurrent calls of one tenant may land on one worker: no share of threads in the way.
ENV = {"TENANT_ADMIN_KEY": KEY, "TENANT_MAX_THREAD_SHARE": "1"}


def answers(server, path: str) -> list[tuple[int, dict]]:
    """``CALLS`` concurrent GETs, each on its own connection: (status, body) of each."""
    def one(_):
        response = server.get(path, headers={"Connection": "close"})
        return response.status_code, response.json()

    with ThreadPoolExecutor(12) as pool:
        return list(pool.map(one, range(CALLS)))


def all_workers(server) -> list[int]:
    """The worker pids, once gunicorn has started all of them."""
    pids = poll(lambda: sorted(server.worker_pids()), lambda pids: len(pids) == WORKERS)
    assert len(pids) == WORKERS
    return pids


def put(server, tenant: str, body: dict) -> int:
    return server.put(f"/admin/tenants/{tenant}", json=body, headers=AUTH).status_code


def test_a_config_change_is_live_in_every_worker_on_the_next_request(tmp_path):
    root = tmp_path / "tenants"
    write_manifest(root / "v1", "EX_V1")
    write_manifest(root / "v2", "EX_V2")
    with running_server(tmp_path, workers=WORKERS, env=ENV) as server:
        workers = all_workers(server)
        assert put(server, "acme", {"data_dir": str(root / "v1")}) == 201
        v1 = (200, {"tenant": "acme", "exams": [{"exam_id": "EX_V1"}]})
        assert answers(server, "/t/acme/exams") == [v1] * CALLS  # every worker has it loaded

        assert put(server, "acme", {"data_dir": str(root / "v1"), "enabled": False}) == 200
        assert answers(server, "/t/acme/exams") == [(503, {"error": "tenant_disabled"})] * CALLS

        assert put(server, "acme", {"data_dir": str(root / "v2")}) == 200
        v2 = (200, {"tenant": "acme", "exams": [{"exam_id": "EX_V2"}]})
        assert answers(server, "/t/acme/exams") == [v2] * CALLS
        assert sorted(server.worker_pids()) == workers  # the same three workers throughout


@pytest.mark.parametrize("remove_fault", ["delete-the-blocking-file", "put-a-good-data-dir"])
def test_a_factory_failure_is_shared_by_all_workers_until_a_recheck(tmp_path, remove_fault):
    root = tmp_path / "tenants"
    root.mkdir(parents=True)
    blocker = root / "blocker"
    blocker.write_text("a regular file where a directory should be")
    write_manifest(root / "good", "EX_GOOD")
    with running_server(tmp_path, workers=WORKERS, env=ENV) as server:
        workers = all_workers(server)
        assert put(server, "healthy", {}) == 201
        # data_dir cannot exist under a regular file: the first validation fails.
        assert put(server, "acme", {"data_dir": str(blocker / "data")}) == 201
        first = server.get("/t/acme/health")
        assert (first.status_code, first.json()) == (503, {"error": "tenant_unavailable"})
        health = server.get("/admin/tenants/acme", headers=AUTH).json()["health"]
        assert health["state"] == "disabled"
        assert health["reason"].startswith("data_dir ")

        if remove_fault == "delete-the-blocking-file":
            blocker.unlink()
            (blocker / "data").mkdir(parents=True)  # the operator restores the directory
            # The fault is gone, but the decision stands in every worker: no retry per request.
            assert answers(server, "/t/acme/health") == \
                [(503, {"error": "tenant_unavailable"})] * CALLS
            data = {"tenant": "acme", "exams": []}
        else:
            assert put(server, "acme", {"data_dir": str(root / "good")}) == 200
            data = {"tenant": "acme", "exams": [{"exam_id": "EX_GOOD"}]}
        assert answers(server, "/t/healthy/health") == \
            [(200, {"status": "ok", "tenant": "healthy", "workspace": "main"})] * CALLS

        response = server.post("/admin/tenants/acme/recheck", headers=AUTH)
        assert response.status_code == 200
        assert response.json()["health"]["state"] == "healthy"
        assert answers(server, "/t/acme/exams") == [(200, data)] * CALLS
        assert server.get("/tenant/acme/readyz").json() == \
            {"tenant": "acme", "status": "ready", "reason": "inherited"}
        assert sorted(server.worker_pids()) == workers

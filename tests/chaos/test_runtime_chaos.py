"""Tenant runtime chaos under a real gunicorn (2 workers): a tenant's broken factory, hanging
validator, vanished directories or failing upload worker never change /readyz, the global
readiness metrics, or another tenant's answers (contract sec. 5 and 8)."""
from __future__ import annotations

import io
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.runtime.helpers import AUTH, KEY, write_manifest
from tests.support.metrics_text import samples, value
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = [pytest.mark.chaos, pytest.mark.gunicorn]

ENV = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": "1", "VALIDATOR_TIMEOUT_SECONDS": "1",
       "TENANT_MAX_THREAD_SHARE": "1",
       "LIMIT_WAIT_SECONDS": "20"}
FRESH = {"Connection": "close"}  # every request on its own connection: any worker may answer
GLOBAL_READINESS = ("readiness_state", "readiness_transitions_total", "readiness_check_ok")
UNAVAILABLE = (503, {"error": "tenant_unavailable"})


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path, workers=2, env=ENV) as server:
        assert len(poll(server.worker_pids, lambda pids: len(pids) == 2)) == 2
        yield server


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "tenants"


def put(server, tenant: str, body: dict | None = None) -> int:
    return server.put(f"/admin/tenants/{tenant}", json=body or {}, headers=AUTH).status_code


def answer(server, path: str) -> tuple[int, dict]:
    response = server.get(path, headers=FRESH)
    return response.status_code, response.json()


def global_readiness(server) -> tuple:
    """/readyz and the global readiness series: what no tenant may change."""
    series = {key: v for key, v in samples(server.get("/metrics").text).items()
              if key[0] in GLOBAL_READINESS}
    return answer(server, "/readyz"), series


class Bystander:
    """A healthy tenant whose answers must stay exactly the same throughout."""

    def __init__(self, server, root: Path):
        self.server = server
        write_manifest(root / "steady-data", "EX_STEADY")
        assert put(server, "steady", {"data_dir": str(root / "steady-data")}) == 201
        self.checks = 0

    def check(self) -> None:
        assert answer(self.server, "/t/steady/health") == \
            (200, {"status": "ok", "tenant": "steady", "workspace": "main"})
        assert answer(self.server, "/t/steady/exams") == \
            (200, {"tenant": "steady", "exams": [{"exam_id": "EX_STEADY"}]})
        self.checks += 1


@pytest.fixture
def steady(server, root) -> Bystander:
    bystander = Bystander(server, root)
    for _ in range(10):
        bystander.check()
    return bystander


@pytest.fixture
def before(server, steady) -> tuple:
    readiness = global_readiness(server)
    assert readiness[0] == (200, {"status": "ready"})
    assert readiness[1][("readiness_state", frozenset())] == 1.0
    return readiness


def served_per_worker(server, tmp_path: Path, route: str) -> dict[int, float]:
    """How many requests for ``route`` each live worker has answered (its own metric files)."""
    directory = tmp_path / f"metrics-{server.port}"
    counts = {}
    for pid in server.worker_pids():
        merged = MultiProcessCollector.merge([str(p) for p in directory.glob(f"*_{pid}.db")])
        counts[pid] = sum(s.value for m in merged for s in m.samples
                          if s.name == "flask_http_request_duration_seconds_count"
                          and s.labels.get("route") == route)
    return counts


def load_in_every_worker(server, tmp_path: Path, tenant: str) -> None:
    """Request the tenant until both workers have answered for it (so both have it loaded)."""
    route = "/t/<tenant>/exams"
    start = served_per_worker(server, tmp_path, route)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: answer(server, f"/t/{tenant}/exams")[0], range(16)))
        assert codes == [200] * 16
        now = served_per_worker(server, tmp_path, route)
        if len(now) == 2 and all(now[pid] > start.get(pid, 0) for pid in now):
            return
    raise AssertionError(f"{tenant} was not served by both workers")


def test_a_raising_factory_makes_only_its_tenant_unavailable_until_fixed(
        server, steady, before):
    assert put(server, "victim", {"extra": {"chaos": {"factory": "raise"}}}) == 201
    for _ in range(20):
        assert answer(server, "/t/victim/health") == UNAVAILABLE
        steady.check()
    assert answer(server, "/tenant/victim/readyz") == \
        (503, {"tenant": "victim", "status": "not ready", "reason": "health"})
    assert global_readiness(server) == before

    assert put(server, "victim", {}) == 200  # the operator removes the fault ...
    response = server.post("/admin/tenants/victim/recheck", headers=AUTH)  # ... and rechecks
    assert response.status_code == 200
    assert response.json()["health"]["state"] == "healthy"
    for _ in range(20):
        assert answer(server, "/t/victim/health")[0] == 200
        steady.check()
    assert global_readiness(server) == before


def test_a_hanging_validator_is_abandoned_at_its_deadline_and_blocks_nobody(
        server, steady, before):
    assert put(server, "victim", {"extra": {"chaos": {"validator": "hang", "seconds": 5}}}) \
        == 201
    checks_while_hanging = 0
    with ThreadPoolExecutor(1) as pool:
        hanging = pool.submit(answer, server, "/t/victim/health")
        deadline = time.monotonic() + 15
        while not hanging.done() and time.monotonic() < deadline:
            steady.check()
            assert answer(server, "/readyz") == (200, {"status": "ready"})
            checks_while_hanging += not hanging.done()
        assert hanging.result(15) == UNAVAILABLE  # a first validation that timed out
    assert checks_while_hanging >= 1  # the others were answered while it still hung
    health = server.get("/admin/tenants/victim", headers=AUTH).json()["health"]
    assert health == {**health, "state": "disabled", "reason": "validator timed out after 1s"}
    for _ in range(10):
        assert answer(server, "/t/victim/health") == UNAVAILABLE  # decided, not retried
        steady.check()
    assert global_readiness(server) == before


def test_vanished_and_replaced_data_dirs_degrade_only_their_tenants(
        server, tmp_path, root, steady, before):
    for tenant in ("gone", "filed"):
        write_manifest(root / f"{tenant}-data", f"EX_{tenant.upper()}")
        assert put(server, tenant, {"data_dir": str(root / f"{tenant}-data")}) == 201
        load_in_every_worker(server, tmp_path, tenant)
    shutil.rmtree(root / "gone-data")
    shutil.rmtree(root / "filed-data")
    (root / "filed-data").write_text("a regular file now")
    for tenant in ("gone", "filed"):
        assert answer(server, f"/t/{tenant}/exams") == \
            (503, {"error": "tenant_storage_unavailable"})
        steady.check()

    gone = server.post("/admin/tenants/gone/recheck", headers=AUTH).json()["health"]
    assert (gone["state"], gone["reason"]) == \
        ("unverified", f"data_dir {root.resolve() / 'gone-data'} is missing")
    filed = server.post("/admin/tenants/filed/recheck", headers=AUTH).json()["health"]
    assert (filed["state"], filed["reason"]) == \
        ("disabled", f"data_dir {root.resolve() / 'filed-data'} is not a directory")
    for _ in range(20):
        assert answer(server, "/t/gone/health") == \
            (200, {"status": "ok", "tenant": "gone", "workspace": "main"})  # keeps serving
        assert answer(server, "/t/filed/health") == UNAVAILABLE
        steady.check()
    assert answer(server, "/tenant/gone/readyz") == \
        (503, {"tenant": "gone", "status": "error", "reason": "check_failed"})
    assert answer(server, "/tenant/filed/readyz") == \
        (503, {"tenant": "filed", "status": "not ready", "reason": "health"})
    assert global_readiness(server) == before


def _replace_bin_with_directory(server, uploads: Path, upload_id: str) -> None:
    (uploads / f"{upload_id}.bin").unlink()
    (uploads / f"{upload_id}.bin").mkdir()


def _delete_through_the_api(server, uploads: Path, upload_id: str) -> None:
    assert server.delete(f"/t/victim/uploads/{upload_id}").status_code == 200


@pytest.mark.parametrize("fault, failed", [
    (_replace_bin_with_directory, (200, {"state": "failed", "error": "IsADirectoryError"})),
    (_delete_through_the_api, (404, {"error": "unknown_upload"})),
], ids=["bin-replaced-by-directory", "upload-deleted-while-queued"])
def test_a_failing_upload_worker_harms_neither_its_tenant_nor_others(
        server, root, steady, before, fault, failed):
    assert put(server, "victim", {"limits": {"ocr": 1}}) == 201
    uploads = root / "victim" / "uploads"
    with ThreadPoolExecutor(1) as pool:
        # Hold the tenant's only ocr permit: the upload waits in the worker's queue.
        held = pool.submit(server.post, "/t/victim/chaos/hold/ocr?ms=3000")
        inflight = poll(
            lambda: value(server.get("/metrics").text, "tenant_limit_inflight",
                          tenant="victim", limit="ocr"),
            lambda held_now: held_now == 1.0)
        assert inflight == 1.0
        response = server.post("/t/victim/uploads", headers=FRESH,
                               files={"file": ("a.txt", io.BytesIO(b"answers"))})
        assert response.status_code == 202
        location = response.headers["Location"]
        assert answer(server, location)[1]["state"] == "queued"
        fault(server, uploads, response.json()["id"])
        steady.check()
        assert held.result(15).status_code == 200
    result = poll(lambda: answer(server, location),
                  lambda got: got[0] != 200 or got[1]["state"] in ("failed", "done"))
    assert (result[0], {k: result[1].get(k) for k in failed[1]}) == failed
    steady.check()
    # Both workers' upload threads go on: every later upload is processed.
    locations = []
    for _ in range(8):
        response = server.post("/t/victim/uploads", headers=FRESH,
                               files={"file": ("b.txt", io.BytesIO(b"more answers"))})
        assert response.status_code == 202
        locations.append(response.headers["Location"])
        steady.check()
    states = [poll(lambda: answer(server, loc)[1]["state"], lambda s: s == "done")
              for loc in locations]
    assert states == ["done"] * len(locations)
    assert answer(server, "/t/victim/health")[0] == 200
    assert global_readiness(server) == before

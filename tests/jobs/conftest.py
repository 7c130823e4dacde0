"""Jobs under the test client, on both store backends: an app with a tenant blueprint that
submits and reads jobs as an application team's would, and handlers a test controls."""
from __future__ import annotations

import threading
import time

import pytest
from flask import Blueprint, request

from app.errors import ApiError
from app.jobs import register_tenant_job, submit_tenant_job, tenant_job
from app.runtime import current_tenant, register_tenant_blueprint
from tests.runtime.helpers import AUTH, KEY

BACKENDS = ["sqlite", "postgres"]
SETTINGS = {"TENANT_ADMIN_KEY": KEY, "JOB_RETRY_SECONDS": "0.05", "JOB_POLL_SECONDS": "0.05",
            "JOB_MAX_ATTEMPTS": "3"}


@pytest.fixture(params=BACKENDS)
def settings_overrides(request):
    settings = dict(SETTINGS)
    if request.param == "postgres":
        settings["TENANT_DB_URL"] = request.getfixturevalue("postgres_url")
    return settings


class Handlers:
    """What the test's handlers did: every try, in the order they started."""

    def __init__(self):
        self.tries: list[tuple[str, str, float]] = []  # (tenant, payload name, time)
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.failures: dict[str, int] = {}  # payload name -> tries that raise

    def record(self, job):
        context = current_tenant("test.record")
        with self.lock:
            self.tries.append((context.tenant, job.payload["name"], time.monotonic()))
            failing = self.failures.get(job.payload["name"], 0)
            if failing:
                self.failures[job.payload["name"]] = failing - 1
        assert self.gate.wait(30)
        if failing:
            raise ValueError("this try fails")
        return {"tenant": context.tenant, "workspace": context.workspace,
                "name": job.payload["name"]}

    def names(self) -> list[str]:
        with self.lock:
            return [name for _, name, _ in self.tries]


def job_blueprint() -> Blueprint:
    blp = Blueprint("test_jobs", __name__, url_prefix="/jobs")

    @blp.route("/<kind>", methods=["POST"])
    def submit(kind):
        return {"id": submit_tenant_job(kind, request.get_json())}, 202

    @blp.route("/<kind>/<job_id>")
    def status(kind, job_id):
        found = tenant_job(job_id)
        if found is None:
            raise ApiError(404, "unknown_job")
        return found

    return blp


@pytest.fixture
def handlers(app) -> Handlers:
    handlers = Handlers()
    register_tenant_job(app, "record", handlers.record)
    register_tenant_job(app, "limited", handlers.record, limit="ocr")
    register_tenant_blueprint(app, job_blueprint())
    yield handlers
    handlers.gate.set()


def put(client, tenant: str, body: dict | None = None):
    return client.put(f"/admin/tenants/{tenant}", json=body or {}, headers=AUTH)


def submit(client, tenant: str, name: str, kind: str = "record") -> str:
    response = client.post(f"/t/{tenant}/jobs/{kind}", json={"name": name})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def status(client, tenant: str, job_id: str, kind: str = "record") -> dict:
    return client.get(f"/t/{tenant}/jobs/{kind}/{job_id}").get_json()

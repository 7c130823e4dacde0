"""The app the jobs benchmark serves: Tenantgate with an empty job kind and a route that
queues N of them in one transaction (POST /t/<t>/bench/jobs?n=N)."""
from __future__ import annotations

from flask import Blueprint, request

from app import create_app
from app.jobs import register_tenant_job, submit_tenant_job
from app.runtime import register_tenant_blueprint
from app.services import services

app = create_app()
register_tenant_job(app, "noop", lambda job: None)
bench = Blueprint("bench_jobs", __name__, url_prefix="/bench")


@bench.route("/jobs", methods=["POST"])
def queue_jobs():
    count = min(int(request.args.get("n", "1")), 10_000)
    with services().store.db.write():
        for _ in range(count):
            submit_tenant_job("noop", {})
    return {"queued": count}, 202


register_tenant_blueprint(app, bench)

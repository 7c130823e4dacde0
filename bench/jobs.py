"""Job figures (docs/jobs.md): jobs per second through one host (SQLite, PostgreSQL) and two
hosts (PostgreSQL) with an empty handler, and the cost of POST /t/<t>/uploads against a
checkout of another revision (the in-memory upload worker), measured the same way.

    python -m bench.jobs [--jobs 2000] [--uploads 300] [--baseline-rev main]

Only 127.0.0.1; every server is stopped at the end.
"""
from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from tests.support.metrics_text import value
from tests.support.postgres import PostgresServer, pg_bin_dir
from tests.support.server import Server, _environment, free_port, running_server

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-admin-key"
ADMIN = {"X-Admin-Key": KEY}


def pending(server: Server, tenant: str) -> float:
    text = server.request("GET", "/metrics").text
    return sum(value(text, "tenant_jobs", tenant=tenant, state=s) or 0
               for s in ("queued", "processing"))


def jobs_per_second(servers: list[Server], count: int, tenants: int = 4) -> float:
    names = [f"t{i}" for i in range(tenants)]
    for name in names:
        servers[0].request("PUT", f"/admin/tenants/{name}", json={}, headers=ADMIN)
    started = time.monotonic()
    for name in names:
        answer = servers[0].request("POST", f"/t/{name}/bench/jobs?n={count // tenants}")
        assert answer.status_code == 202, answer.text
    deadline = started + 600
    while any(pending(servers[0], name) for name in names):
        assert time.monotonic() < deadline, "jobs did not finish in 10 minutes"
        time.sleep(0.05)  # polling the benchmark's own progress, not a result
    return count / (time.monotonic() - started)


def hosts(stack: ExitStack, tmp: Path, count: int, env: dict) -> list[Server]:
    servers = []
    for index in range(count):
        home = tmp / f"host-{index}"
        home.mkdir()
        servers.append(stack.enter_context(running_server(
            home, workers=2, env={**env, "TENANT_DATA_ROOT": str(tmp / "tenants"),
                                  "LIMIT_STATE_DIR": str(home / "limits")},
            app_module="bench.jobs_app:app")))
    return servers


def throughput(count: int) -> dict[str, float]:
    figures = {}
    base = {"TENANT_ADMIN_KEY": KEY, "JOB_POLL_SECONDS": "0.05"}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        figures["one host, SQLite"] = jobs_per_second(hosts(stack, Path(tmp), 1, base), count)
    if pg_bin_dir() is None:
        return figures
    for number in (1, 2):
        postgres = PostgresServer(pg_bin_dir())
        try:
            postgres.init()
            postgres.start()
            env = {**base, "TENANT_DB_URL": postgres.create_database()}
            with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
                figures[f"{number} host(s), PostgreSQL"] = jobs_per_second(
                    hosts(stack, Path(tmp), number, env), count)
        finally:
            postgres.destroy()
    return figures


def upload_latencies(server: Server, count: int) -> list[float]:
    server.request("PUT", "/admin/tenants/acme", json={}, headers=ADMIN)
    session = requests.Session()
    took = []
    for index in range(count + 20):
        started = time.perf_counter()
        answer = session.post(server.url("/t/acme/uploads"), timeout=30,
                              files={"file": ("a.txt", io.BytesIO(b"x" * 2048))})
        if index >= 20:  # the first ones warm the worker up
            took.append(time.perf_counter() - started)
        assert answer.status_code == 202, answer.text
    return took


def serve_checkout(tmp: Path, checkout: Path) -> tuple[subprocess.Popen, Server]:
    port, management = free_port(), free_port()
    env = _environment(tmp, port, management, 2, 8, {"TENANT_ADMIN_KEY": KEY})
    log = open(tmp / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c",
         str(checkout / "config" / "gunicorn.conf.py"), "wsgi:app"],
        cwd=checkout, env={**env, "PYTHONPATH": str(checkout)}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, port, tmp / "gunicorn.log", 2, management)
    server.wait_ready()
    return process, server


def upload_cost(count: int, revision: str) -> dict[str, float]:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        baseline = tmp / "baseline"
        baseline.mkdir()
        archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive, check=True)
        for label, checkout in ((f"{revision} (in-memory worker)", baseline),
                                ("this tree (store jobs)", ROOT)):
            home = tmp / label.split()[0].replace("/", "_")
            home.mkdir(exist_ok=True)
            process, server = serve_checkout(home, checkout)
            try:
                took = sorted(upload_latencies(server, count))
            finally:
                server.stop()
            figures[f"{label} p50 ms"] = statistics.median(took) * 1000
            figures[f"{label} p99 ms"] = took[int(len(took) * 0.99) - 1] * 1000
            figures[f"{label} mean ms"] = statistics.fmean(took) * 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--uploads", type=int, default=300)
    parser.add_argument("--baseline-rev", default="main")
    parser.add_argument("--skip", choices=("throughput", "uploads"), action="append",
                        default=[])
    args = parser.parse_args()
    if "throughput" not in args.skip:
        for label, figure in throughput(args.jobs).items():
            print(f"jobs/s, empty handler, {label}: {figure:.0f}", flush=True)
    if "uploads" not in args.skip:
        for label, figure in upload_cost(args.uploads, args.baseline_rev).items():
            print(f"POST /t/<t>/uploads, {label}: {figure:.2f}", flush=True)


if __name__ == "__main__":
    main()

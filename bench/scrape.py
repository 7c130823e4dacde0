"""/metrics scrape time: with 100 tenants on 4 workers, and after 200 worker recycles.

Recycling (gunicorn ``--max-requests 20``) runs two servers side by side in the same
run: A with Tenantgate's config (dead workers' files folded into archives) and B with
bench/nofold_gunicorn.conf.py (child_exit as before folding: the files pile up).
"""
from __future__ import annotations

import glob
import os
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics.fold_seqlock import StableMultiProcessCollector

from .load import Load, spread
from .servers import Server, ServerPool, create_tenants, tenant_ids

NOFOLD_CONF = Path(__file__).resolve().parent / "nofold_gunicorn.conf.py"
MIX = ["/t/{t}/health", "/tenant/{t}/readyz", "/readyz", "/healthz"]
RECYCLE_ARGS = ["--max-requests", "20", "--max-requests-jitter", "0"]


def scrape_once(server: Server) -> tuple[float, str]:
    started = time.perf_counter()
    status, body = server.request("GET", "/metrics")
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"/metrics on {server.name}: {status} {body[:300]!r}")
    return elapsed, body.decode()


def read_directory_ms(directory: str, times: int = 20) -> list[float]:
    """What a scrape spends on the multiprocess files alone, measured in this process."""
    result = []
    for _ in range(times):
        registry = CollectorRegistry(auto_describe=False)
        StableMultiProcessCollector(registry, path=directory)
        started = time.perf_counter()
        generate_latest(registry)
        result.append((time.perf_counter() - started) * 1000)
    return result


def request_total(text: str) -> float:
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "flask_http_request_total")


def tenant_labels(text: str) -> int:
    return len({sample.labels["tenant"] for family in text_string_to_metric_families(text)
                for sample in family.samples if "tenant" in sample.labels})


def measure_with_tenants(pool: ServerPool, load: Load, tenants: int = 100, workers: int = 4,
                         scrapes: int = 20, log=print) -> dict:
    """Item 3: ``tenants`` tenants, 4 workers, every tenant touched, then 20 scrapes."""
    # + 1: the default tenant takes a label too.
    server = pool.tenantgate(f"scrape-{tenants}", env={
        "WEB_CONCURRENCY": str(workers), "MAX_TENANT_LABELS": str(tenants + 1)})
    ids = tenant_ids(tenants)
    create_tenants(server, ids)
    for tenant in ids:  # every tenant, on both tenant routes
        server.request("GET", f"/t/{tenant}/health")
        server.request("GET", f"/tenant/{tenant}/readyz")
    load.run(server.port, MIX, 3, tenants=tenants)
    times, text = [], ""
    for _ in range(scrapes):
        elapsed, text = scrape_once(server)
        times.append(elapsed)
    directory = server.env["PROMETHEUS_MULTIPROC_DIR"]
    result = {"http_ms": spread(times),
              "multiprocess_read_ms": spread(read_directory_ms(directory)),
              "workers": workers, "tenants": tenants, "tenant_labels": tenant_labels(text),
              "bytes": len(text), "files": len(glob.glob(os.path.join(directory, "*.db")))}
    log(f"  {tenants} tenants: scrape median {result['http_ms']['median']:.1f} ms, "
        f"max {result['http_ms']['max']:.1f} ms, "
        f"{result['tenant_labels']} tenant labels, {result['files']} files")
    pool.stop(server)
    return result


def _states(servers: dict[str, Server], scrapes: int) -> dict[str, dict]:
    """Scrape timings of each server, interleaved scrape by scrape."""
    times: dict[str, list[float]] = {name: [] for name in servers}
    reads: dict[str, list[float]] = {name: [] for name in servers}
    texts: dict[str, str] = {}
    for _ in range(scrapes):
        for name, server in servers.items():
            elapsed, texts[name] = scrape_once(server)
            times[name].append(elapsed)
            reads[name] += read_directory_ms(server.env["PROMETHEUS_MULTIPROC_DIR"], 1)
    return {name: {"recycles": server.boots() - 2, "http_ms": spread(times[name]),
                   "multiprocess_read_ms": spread(reads[name]),
                   "files": len(glob.glob(os.path.join(server.env["PROMETHEUS_MULTIPROC_DIR"],
                                                       "*.db"))),
                   "requests_total": request_total(texts[name])}
            for name, server in servers.items()}


def _drive(load: Load, server: Server, recycles: int, deadline: float) -> None:
    """Traffic in short runs until ``recycles`` workers were replaced or the deadline."""
    while server.boots() - 2 < recycles and time.monotonic() < deadline - 3:
        load.run(server.port, MIX, 3, tenants=100)


def measure_recycling(pool: ServerPool, load: Load, recycles: int = 200, scrapes: int = 20,
                      budget_seconds: float = 200.0, log=print) -> dict:
    """Item 7: scrape time before and after ``recycles`` worker recycles, fold vs no fold."""
    servers = {"fold": pool.tenantgate("recycle-fold", extra_args=RECYCLE_ARGS),
               "nofold": pool.tenantgate("recycle-nofold", extra_args=RECYCLE_ARGS,
                                         conf=NOFOLD_CONF)}
    for server in servers.values():
        create_tenants(server, tenant_ids(100))
        # Every route and status of the mix seen once, so "before" has the same label sets
        # as "after" and the comparison is about files, not series.
        load.run(server.port, MIX, 2, tenants=100)
        server.wait_workers(2)
    before = _states(servers, scrapes)
    deadline = time.monotonic() + budget_seconds
    # Both at once: a recycle is mostly a worker boot, and while one server boots the other
    # keeps the CPU busy. Same traffic, same time window, so noise hits both alike.
    drivers = [threading.Thread(target=_drive, args=(load, server, recycles, deadline))
               for server in servers.values()]
    for driver in drivers:
        driver.start()
    while any(driver.is_alive() for driver in drivers):
        for driver in drivers:
            driver.join(10)
        log("  recycles: " + ", ".join(f"{n} {s.boots() - 2}" for n, s in servers.items()))
    for server in servers.values():
        server.wait_workers(2)
    after = _states(servers, scrapes)
    for server in servers.values():
        pool.stop(server)
    result = {}
    for name in servers:
        b, a = before[name], after[name]
        result[name] = {"before": b, "after": a,
                        "growth": a["http_ms"]["median"] / b["http_ms"]["median"],
                        "read_growth": a["multiprocess_read_ms"]["median"]
                        / b["multiprocess_read_ms"]["median"],
                        "counters_monotonic": a["requests_total"] >= b["requests_total"]}
    result["after_fold_vs_nofold"] = (after["fold"]["http_ms"]["median"]
                                      / after["nofold"]["http_ms"]["median"])
    return result

"""RSS per worker with 0, 100 and 1,000 materialised tenants, next to the bare app's workers.

Materialise = one GET /t/<t>/health per tenant (each on a fresh connection, so the
tenants spread over both workers). RSS is VmRSS of the master's children, read after
warming every code path but materialising a tenant, concurrently (see _warm).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from .boot import seed_store
from .load import CONNECTIONS, spread
from .servers import Server, ServerPool, rss_kib, tenant_ids

STEPS = (100, 1000)
WARM_CONNECTIONS = CONNECTIONS  # as many as the load cases open


def worker_rss(server: Server) -> list[int]:
    return [rss_kib(pid) for pid in sorted(server.worker_pids())]


def _warm(server: Server, paths: list[str], times: int = 20) -> None:
    """Each path ``times`` over, one at a time and then from WARM_CONNECTIONS at once.

    One at a time, the warm-up allocates too little for a full garbage collection, and a
    worker's first one, during the first tenants' hits, faults in a page of code of
    every extension module it traverses (about 350 KiB a worker, counted in VmRSS once):
    that was counted per tenant. At once, as the load cases run, it happens here, and
    every request thread runs the paths on its own store connection.
    """
    for _ in range(times):
        for path in paths:
            server.request("GET", path)
    wanted = paths * (times * WARM_CONNECTIONS // 2)
    with ThreadPoolExecutor(WARM_CONNECTIONS) as pool:
        for status, body in pool.map(lambda path: server.request("GET", path), wanted):
            if status >= 500:
                raise RuntimeError(f"warm-up: {status} {body[:200]!r}")


def _materialise(server: Server, tenants: list[str]) -> float:
    """Milliseconds per tenant for one first hit each."""
    started = time.perf_counter()
    for tenant in tenants:
        status, body = server.request("GET", f"/t/{tenant}/health")
        if status != 200:
            raise RuntimeError(f"GET /t/{tenant}/health: {status} {body[:200]!r}")
    return (time.perf_counter() - started) * 1000 / len(tenants)


def measure_memory(pool: ServerPool, log=print) -> dict:
    store_dir = pool.workdir / "memory"
    seed_store(store_dir, STEPS[-1], prefix="bench-")
    bare = pool.bare("memory-bare")
    _warm(bare, ["/health"])
    bare_rss = worker_rss(bare)
    pool.stop(bare)
    server = pool.tenantgate("memory", store_dir=store_dir,
                             env={"MAX_TENANT_LABELS": str(STEPS[-1] * 2)})
    # Every code path of a tenant request except materialising one (unknown tenant: 404).
    _warm(server, ["/readyz", "/healthz", "/t/not-a-tenant/health"])
    rss = {0: worker_rss(server)}
    per_tenant_ms = {}
    ids = tenant_ids(STEPS[-1])
    done = 0
    for step in STEPS:
        per_tenant_ms[step] = _materialise(server, ids[done:step])
        done = step
        time.sleep(0.5)
        rss[step] = worker_rss(server)
        log(f"  {step} materialised: RSS {[round(k / 1024, 1) for k in rss[step]]} MiB, "
            f"{per_tenant_ms[step]:.1f} ms per first hit")
    pool.stop(server)
    bare_mean = sum(bare_rss) / len(bare_rss)
    result = {"bare_worker_mib": spread([k / 1024 for k in bare_rss])}
    for step, values in rss.items():
        result[f"worker_mib_{step}"] = spread([k / 1024 for k in values])
        result[f"ratio_{step}"] = (sum(values) / len(values)) / bare_mean
    for step in STEPS:
        result[f"kib_per_tenant_{step}"] = (sum(rss[step]) - sum(rss[0])) / step
        result[f"first_hit_ms_upto_{step}"] = per_tenant_ms[step]
    return result

"""Start-up with 0 and 10,000 stored tenants, and the first hit of a cold tenant.

Start-up is the time from spawning gunicorn to the first 200 on /readyz, with the two
stores alternating round by round. The cold hit is the first GET /t/<t>/health after
the tenant was created (PUT /admin/tenants), against later requests on the same
keep-alive connection (so the same worker): median over 20 tenants. Creating a tenant
is timed too, with 0 and with 10,000 stored tenants.
"""
from __future__ import annotations

import http.client
import statistics
import time
from pathlib import Path

from app.settings import load_settings
from app.store import TenantStore, open_store
from app.tenants.registration import build_record, make_directories

from .load import spread
from .servers import Server, ServerPool, create_tenants, tenant_ids

MANY = 10_000
CAP = "20000"


class _SeedingTenantStore(TenantStore):
    """TenantStore.upsert without the directory-overlap scan.

    The scan compares the new tenant's directories with every other tenant's (O(n) per
    insert, O(n^2) for a seed: tens of minutes for 10,000); the seeded tenants use the
    default directories TENANT_DATA_ROOT/<t>/..., disjoint by construction.
    """

    def _check_directories(self, conn, record) -> None:
        return None


def seed_store(store_dir: Path, count: int, prefix: str = "stored-") -> float:
    """Create ``count`` tenants straight in the store; returns the seconds it took."""
    if not hasattr(TenantStore, "_check_directories"):
        # Without the override the seed is quadratic: tens of minutes, over the budget.
        raise RuntimeError("TenantStore._check_directories is gone: update bench/boot.py")
    settings = load_settings(environ={
        "TENANT_DB_PATH": str(store_dir / "store" / "tenants.sqlite3"),
        "TENANT_DATA_ROOT": str(store_dir / "tenants"), "MAX_TENANT_LABELS": CAP})
    started = time.perf_counter()
    store = open_store(settings)
    try:
        # A bench seed only: one fsync per insert would make it minutes, not seconds.
        store.db.connection().execute("PRAGMA synchronous = OFF")
        seeder = _SeedingTenantStore(store.db)
        for tenant in tenant_ids(count, prefix):
            stored, _ = seeder.upsert(build_record(settings, tenant, {}),
                                      settings.max_tenant_labels)
            make_directories(stored)  # as registration does: the runtime never makes them
    finally:
        store.close()
    return time.perf_counter() - started


def measure_boot(pool: ServerPool, rounds: int, log=print) -> dict:
    """Alternating start-ups with an empty store and with MANY stored tenants."""
    stores = {0: pool.workdir / "boot-0", MANY: pool.workdir / f"boot-{MANY}"}
    seeded = {n: seed_store(path, n) for n, path in stores.items()}
    log(f"  seeded {MANY} tenants in {seeded[MANY]:.1f}s")
    times: dict[int, list[float]] = {0: [], MANY: []}
    last: dict[int, Server] = {}
    for index in range(rounds):
        for count in ((0, MANY) if index % 2 == 0 else (MANY, 0)):
            server = pool.tenantgate(f"boot-{count}-r{index}", store_dir=stores[count],
                                     env={"MAX_TENANT_LABELS": CAP}, wait=False)
            times[count].append(server.wait_ready("/readyz"))
            if index == rounds - 1:
                last[count] = server  # kept for the cold hits and the PUT timings
            else:
                pool.stop(server)
        log(f"  round {index + 1}: 0 -> {times[0][-1] * 1000:.0f} ms, "
            f"{MANY} -> {times[MANY][-1] * 1000:.0f} ms")
    for server in last.values():
        server.wait_workers(2)
    cold = measure_cold_hits(last[0])
    put = measure_puts(last[0], last[MANY])
    for server in last.values():
        pool.stop(server)
    return {"seconds_empty": spread(times[0]), f"seconds_{MANY}": spread(times[MANY]),
            "ratio": spread([m / e for e, m in zip(times[0], times[MANY])]),
            "seed_seconds": seeded[MANY], "cold_hit": cold, "put": put}


def measure_puts(empty: Server, many: Server, rounds: int = 3) -> dict:
    """PUT /admin/tenants/<new> with few and with MANY stored tenants, alternating."""
    times: dict[str, list[float]] = {"few": [], "many": []}
    for index in range(rounds):
        for label, server in (("few", empty), ("many", many)):
            started = time.perf_counter()
            create_tenants(server, [f"put-probe-{index}"])
            times[label].append((time.perf_counter() - started) * 1000)
    return {"few_ms": spread(times["few"]), "many_ms": spread(times["many"]),
            "ratio": spread([m / f for f, m in zip(times["few"], times["many"])]),
            "stored": MANY}


def measure_cold_hits(server, count: int = 20, warm_requests: int = 5) -> dict:
    """First /t/<t>/health after creating the tenant vs warm requests, same connection."""
    tenants = tenant_ids(count, "cold-")
    cold, warm = [], []
    for tenant in tenants:
        create_tenants(server, [tenant])
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            timings = [_timed_get(conn, f"/t/{tenant}/health") for _ in range(1 + warm_requests)]
        finally:
            conn.close()
        cold.append(timings[0])
        warm.append(statistics.median(timings[2:]))
    return {"cold_ms": spread(cold), "warm_ms": spread(warm),
            "ratio": spread([c / w for c, w in zip(cold, warm)]), "tenants": count}


def _timed_get(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    return elapsed

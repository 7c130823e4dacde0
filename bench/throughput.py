"""Throughput and latency of Tenantgate routes next to the bare app, in alternating rounds.

Each round runs the bare app and every Tenantgate route once (order reversed on odd
rounds); each ratio is Tenantgate / bare within one round, then summarised.
"""
from __future__ import annotations

from .load import Load, LoadResult, spread
from .servers import API_KEY, Server, ServerPool, create_tenants, tenant_ids

TENANTS = 100
# key -> (label, paths, load options)
ROUTES = {
    "tenant_health": ("GET /t/<t>/health", ["/t/{t}/health"], {"tenants": TENANTS}),
    "tenant_readyz": ("GET /tenant/<t>/readyz", ["/tenant/{t}/readyz"], {"tenants": TENANTS}),
    "global_readyz": ("GET /readyz", ["/readyz"], {}),
    "set_ready": ("POST /tenant/<t>/set_ready", ["/tenant/{t}/set_ready"],
                  {"tenants": TENANTS, "method": "POST", "api_key": API_KEY,
                   "flip_ready": True}),
}
BARE = ("bare", "bare Flask GET /health", ["/health"], {})


def clear_overrides(server: Server, tenants: list[str]) -> None:
    """set_ready leaves overrides behind; later /tenant/<t>/readyz runs must see none."""
    for tenant in tenants:
        server.request("POST", f"/tenant/{tenant}/set_ready", body={"ready": None},
                       headers={"X-API-Key": API_KEY})


def measure_throughput(pool: ServerPool, load: Load, rounds: int, seconds: float,
                       log=print) -> dict:
    bare, main = pool.bare(), pool.tenantgate("main")
    ids = tenant_ids(TENANTS)
    create_tenants(main, ids)
    cases = [(BARE[0], bare, BARE[2], BARE[3])] + \
        [(key, main, paths, options) for key, (_, paths, options) in ROUTES.items()]
    for key, server, paths, options in cases:  # warm-up: every tenant built in both workers
        load.run(server.port, paths, 2, **options)
    clear_overrides(main, ids)
    runs: dict[str, list[LoadResult]] = {key: [] for key, *_ in cases}
    for index in range(rounds):
        for key, server, paths, options in (cases if index % 2 == 0 else cases[::-1]):
            runs[key].append(load.run(server.port, paths, seconds, **options))
            if key == "set_ready":
                clear_overrides(main, ids)
        log(f"  round {index + 1}: " + ", ".join(f"{k} {v[-1].rps:.0f}/s"
                                                 for k, v in runs.items()))
    pool.stop(main)
    pool.stop(bare)
    return summarise(runs)


def summarise(runs: dict[str, list[LoadResult]]) -> dict:
    base = runs["bare"]
    result = {}
    labels = {BARE[0]: BARE[1], **{k: v[0] for k, v in ROUTES.items()}}
    for key, results in runs.items():
        result[key] = {
            "label": labels[key],
            "rps": spread([r.rps for r in results]),
            "p50_ms": spread([r.p50_ms for r in results]),
            "p99_ms": spread([r.p99_ms for r in results]),
            "rps_ratio": spread([r.rps / b.rps for r, b in zip(results, base)]),
            "p50_ratio": spread([r.p50_ms / b.p50_ms for r, b in zip(results, base)]),
            "p99_ratio": spread([r.p99_ms / b.p99_ms for r, b in zip(results, base)]),
            "errors": sum(r.errors for r in results),
            "requests": sum(r.requests for r in results),
            "generator": results[0].generator,
            "generator_cpu": [r.generator_cpu for r in results if r.generator_cpu is not None],
        }
    return result

"""Throughput and latency of the peers and every Tenantgate route next to the bare app.

Five servers under the same gunicorn settings: the bare app, the two peers a user
would pick instead (bench/exporter_app.py, bench/handrolled_app.py), Tenantgate, and
Tenantgate with CHAOS_ENABLED=1 for the limit routes. Each round runs every case of
bench/cases.py once (order reversed on odd rounds); each ratio is taken within one
round, then summarised. Rounds stop early, after at least MIN_ROUNDS, when the next
one would pass the deadline.
"""
from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

from .cases import BY_KEY, CASES, HALF, HELD, TENANTS, Case, probe
from .handrolled_app import DB_ENV, seed
from .limit_holder import holding
from .load import Load, LoadResult, spread
from .servers import API_KEY, Server, ServerPool, create_tenants, tenant_ids

MIN_ROUNDS = 3
WARM_UP_SECONDS = 2.0


def clear_overrides(server: Server, tenants: list[str]) -> None:
    """set_ready leaves overrides behind; later /tenant/<t>/readyz runs must see none."""
    set_ready(server, tenants, None)


def set_ready(server: Server, tenants: list[str], ready: bool | None) -> None:
    for tenant in tenants:
        status, body = server.request("POST", f"/tenant/{tenant}/set_ready",
                                      body={"ready": ready}, headers={"X-API-Key": API_KEY})
        if status != 200:
            raise RuntimeError(f"set_ready {tenant}: {status} {body[:200]!r}")


def start_servers(pool: ServerPool) -> dict[str, Server]:
    ids = tenant_ids(TENANTS)
    database = pool.workdir / "handrolled" / "tenants.sqlite3"
    seed(database, ids)
    servers = {
        "bare": pool.bare(),
        "exporter": pool.peer("exporter", "bench.exporter_app:app", "/health"),
        "handrolled": pool.peer("handrolled", "bench.handrolled_app:create_app()",
                                f"/t/{ids[0]}/health", {DB_ENV: str(database)}),
        # Each holds two sets of tenants and the default tenant; the default cap (100)
        # counts every stored tenant.
        "main": pool.tenantgate("main", {"MAX_TENANT_LABELS": str(2 * TENANTS + 1)}),
        "chaos": pool.tenantgate("chaos", {"MAX_TENANT_LABELS": str(2 * TENANTS + 1),
                                           "CHAOS_ENABLED": "1"}),
    }
    half = tenant_ids(TENANTS, HALF)
    create_tenants(servers["main"], ids + half)
    set_ready(servers["main"], half[1::2], False)
    create_tenants(servers["chaos"], ids)
    create_tenants(servers["chaos"], tenant_ids(TENANTS, HELD), {"limits": {"llm_student": 1}})
    return servers


def measure_throughput(pool: ServerPool, load: Load, rounds: int, seconds: float,
                       log=print, deadline: float | None = None) -> dict:
    with ExitStack() as stack:
        servers = start_servers(pool)
        for server in servers.values():
            stack.callback(pool.stop, server)
        stack.enter_context(holding(servers["chaos"].env["LIMIT_STATE_DIR"],
                                    tenant_ids(TENANTS, HELD), "llm_student", 1))
        runs = run_rounds(servers, load, rounds, seconds, log, deadline)
    return summarise(runs)


# A run is redone (up to BALANCE_TRIES times in all) when a worker used less than
# BALANCED_SHARE of an even split of the server's CPU time.
BALANCE_TRIES = 4
BALANCED_SHARE = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def run_rounds(servers: dict[str, Server], load: Load, rounds: int, seconds: float, log,
               deadline: float | None) -> dict[str, list[LoadResult]]:
    ids = tenant_ids(TENANTS)

    def run(case: Case, length: float) -> LoadResult:
        server = servers[case.server]
        for _ in range(BALANCE_TRIES):
            before = worker_cpu(server)
            result = load.run(server.port, [case.path], length, **case.load)
            after = worker_cpu(server)
            if result.requests:
                used = sum(after[pid] - before[pid] for pid in after if pid in before)
                result.worker_cpu_ms = used / result.requests * 1000
            if case.key == "set_ready":
                clear_overrides(servers["main"], ids)
            if balanced(before, after):
                break
            unbalanced[case.key] = unbalanced.get(case.key, 0) + 1
        return result

    unbalanced: dict[str, int] = {}

    for case in CASES:  # warm-up: every tenant built in both workers
        run(case, WARM_UP_SECONDS)
    for case in CASES:
        probe(case, servers[case.server])
    runs: dict[str, list[LoadResult]] = {case.key: [] for case in CASES}
    for index in range(rounds):
        started = time.monotonic()
        for case in (CASES if index % 2 == 0 else CASES[::-1]):
            runs[case.key].append(run(case, seconds))
        log(f"  round {index + 1}: " + ", ".join(f"{k} {v[-1].rps:.0f}/s"
                                                 for k, v in runs.items()))
        if unbalanced:
            log("  runs again after one worker got (nearly) all connections: " +
                ", ".join(f"{k} {n}" for k, n in sorted(unbalanced.items())))
        now = time.monotonic()
        if (deadline is not None and MIN_ROUNDS <= index + 1 < rounds
                and now + (now - started) > deadline):
            log(f"  stopping after {index + 1} rounds: the next would pass the time budget")
            break
    return runs


def worker_cpu(server: Server) -> dict[int, float]:
    """CPU seconds used so far by each worker of ``server``."""
    used = {}
    for pid in server.worker_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def balanced(before: dict[int, float], after: dict[int, float]) -> bool:
    """Whether every worker did a fair part of the run's work.

    wrk opens its connections once and keeps them: the worker that wins the accepts at
    the start may hold all of them, and the other idles for the whole run. That run then
    measures one worker's threads fighting for its GIL (about half the throughput of a
    balanced run, for the bare app as for any other), not the app: it is run again.
    """
    used = [after[pid] - before[pid] for pid in after if pid in before]
    total = sum(used)
    if len(used) < 2 or total <= 0:
        return True
    return min(used) >= total * BALANCED_SHARE / len(used)


def summarise(runs: dict[str, list[LoadResult]]) -> dict:
    base = runs["bare"]
    result = {}
    for key, results in runs.items():
        case = BY_KEY[key]
        result[key] = {
            "label": case.label,
            "server": case.server,
            "rounds": len(results),
            "rps": spread([r.rps for r in results]),
            "p50_ms": spread([r.p50_ms for r in results]),
            "p99_ms": spread([r.p99_ms for r in results]),
            "rps_ratio": spread([r.rps / b.rps for r, b in zip(results, base)]),
            "p50_ratio": spread([r.p50_ms / b.p50_ms for r, b in zip(results, base)]),
            "p99_ratio": spread([r.p99_ms / b.p99_ms for r, b in zip(results, base)]),
            "against": {other: spread([r.rps / o.rps for r, o in zip(results, runs[other])])
                        for other in case.against},
            # Worker CPU per request: what a request costs the server, whatever the load
            # generator and the other processes on the machine did in that run.
            "cpu_ms": spread([r.worker_cpu_ms for r in results if r.worker_cpu_ms]),
            "against_cpu": {other: spread([r.worker_cpu_ms / o.worker_cpu_ms
                                           for r, o in zip(results, runs[other])
                                           if r.worker_cpu_ms and o.worker_cpu_ms])
                            for other in case.against},
            "expect": case.expect,
            # Share of answers with a status >= 400: 0 for a 200 case, 1 for a refusal.
            "refused_share": spread([r.refused_share for r in results]),
            "refused": sum(r.refused for r in results),
            "transport_errors": sum(r.errors - r.refused for r in results),
            "errors": sum(r.errors for r in results),
            "requests": sum(r.requests for r in results),
            "generator": results[0].generator,
            "generator_cpu": [r.generator_cpu for r in results if r.generator_cpu is not None],
        }
    return result

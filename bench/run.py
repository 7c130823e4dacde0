"""`make bench`: every Tenantgate benchmark in one unattended run (under 10 minutes).

    .venv/bin/python -m bench.run [--rounds 5] [--seconds 4] [--only 1,3,7]

Servers run on free 127.0.0.1 ports (gunicorn gthread, 2 workers x 4 threads unless a
measure says otherwise) in a temporary directory removed at the end. Prints one table
and writes it with every raw figure to bench/results/<timestamp>.json and latest.json.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .boot import measure_boot
from .fleet_chain import measure_fleet_chain
from .load import CONNECTIONS, Load, ensure_wrk
from .memory import measure_memory
from .scrape import measure_recycling, measure_with_tenants
from .semaphores import measure_pair
from .servers import THREADS, WORKERS, ServerPool
from .throughput import measure_throughput

TOTAL_BUDGET = 570.0  # seconds; `make bench` must finish within 10 minutes
# Items 1-2 (11 cases a round): no new round starts that would end past this.
THROUGHPUT_BUDGET = 300.0
ITEMS = ("1", "2", "3", "4", "5", "6", "7", "fleet")


def log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating A/B rounds")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per load run")
    parser.add_argument("--only", default=",".join(ITEMS), help="items to run, e.g. 1,3")
    parser.add_argument("--recycles", type=int, default=200, help="worker recycles (item 7)")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    started = time.monotonic()
    wrk = ensure_wrk()
    load = Load(wrk)
    results: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="tenantgate-bench-"))
    try:
        with ServerPool(workdir) as pool:
            run_items(pool, load, args, only, results, started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    document = {
        "machine": report.machine(wrk),
        "settings": {"rounds": args.rounds, "seconds": args.seconds, "workers": WORKERS,
                     "threads": THREADS, "connections": CONNECTIONS,
                     "generator": "wrk" if wrk else "python"},
        "duration_seconds": round(time.monotonic() - started, 1),
        "results": results,
    }
    document["table"] = report.table(results)
    path = report.write(document)
    log("\n" + document["table"])
    log(f"\n{document['machine']['nproc']} × {document['machine']['cpu_model']}, "
        f"{document['machine']['memory_gib']} GiB; load generator "
        f"{document['machine']['load_generator']}; {document['duration_seconds']:.0f} s")
    log(f"wrote {path.relative_to(report.RESULTS.parents[1])} and bench/results/latest.json")
    return 0


def run_items(pool: ServerPool, load: Load, args, only: set[str], results: dict,
              started: float) -> None:
    def phase(name: str) -> None:
        log(f"[{time.monotonic() - started:5.0f}s] {name}")

    if "5" in only:
        phase("5: semaphore pair vs BoundedSemaphore")
        results["pair"] = measure_pair(args.rounds)
    if "fleet" in only:
        phase("fleet: permit chain on a throwaway PostgreSQL vs SELECT 1 (skipped without it)")
        results["fleet_chain"] = measure_fleet_chain(number=1000, rounds=args.rounds)
    if only & {"1", "2"}:
        phase(f"1-2: throughput, {args.rounds} rounds × {args.seconds:g}s per case")
        results["throughput"] = measure_throughput(
            pool, load, args.rounds, args.seconds, log,
            deadline=time.monotonic() + THROUGHPUT_BUDGET)
    if "3" in only:
        phase("3: /metrics with 100 and 1,000 tenants on 4 workers")
        results["scrape"] = measure_with_tenants(pool, load, log=log)
        results["scrape_1000"] = measure_with_tenants(pool, load, tenants=1000, log=log)
    if "4" in only:
        phase("4: start-up with 0 and 10,000 stored tenants; cold first hit")
        results["boot"] = measure_boot(pool, args.rounds, log)
    if "6" in only:
        phase("6: RSS per worker with 0, 100, 1,000 materialised tenants")
        results["memory"] = measure_memory(pool, log)
    if "7" in only:
        budget = max(60.0, TOTAL_BUDGET - (time.monotonic() - started) - 45)
        phase(f"7: /metrics before and after {args.recycles} worker recycles "
              f"(budget {budget:.0f}s)")
        results["recycling"] = measure_recycling(pool, load, args.recycles,
                                                 budget_seconds=budget, log=log)
    phase("done")


if __name__ == "__main__":
    sys.exit(main())

"""Cost of the fleet permit chain (LIMIT_BACKEND=postgres) next to one ``SELECT 1`` round trip.

    .venv/bin/python -m bench.fleet_chain [--number N] [--rounds R]

Starts a throwaway PostgreSQL (as tests/support/postgres.py does: the Debian binaries,
as the ``postgres`` user when run as root, on a free 127.0.0.1 port, deleted at the end)
and measures, alternating round by round:

- ``SELECT 1``: one round trip on a session of its own (prepared, autocommit, a cursor
  reused: the cheapest round trip psycopg makes);
- ``Limiter.hold("llm_student")`` on a PostgresBackend: acquire and release of the whole
  4-step chain (tenant llm_total, tenant llm_student, global llm_total, global llm_student),
  the chain's steps made per call as the limiter makes them;
- the backend's chain alone (``chain(steps).try_acquire()`` and ``release()``, its steps
  made once): what a hold costs once its steps are cached.

The round trips of one acquire+release are also counted (statements sent).

Each in one thread, and in 4 threads at once (each thread its own ``SELECT 1`` session;
the chain's threads share one backend, as a worker's request threads do). The figure is
the cost per operation seen by one thread (µs) and its ratio to ``SELECT 1`` in the same
round: the number of round trips an acquire+release costs. Without PostgreSQL binaries it
prints why and measures nothing. Results also go to bench/results/fleet_chain.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.limits.limiter import Limiter  # noqa: E402
from app.limits.postgres import PostgresBackend  # noqa: E402
from app.limits.rejections import RejectionCounter  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.support.postgres import PostgresServer, pg_bin_dir  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "fleet_chain.json"
THREADS = (1, 4)
SKIPPED = ("fleet chain: PostgreSQL binaries not found (/usr/lib/postgresql/*/bin); "
           "skipped. Install the Debian package 'postgresql' to measure it.")


def select_one(url: str) -> tuple[Callable[[], None], Callable[[], None]]:
    conn = psycopg.connect(url, autocommit=True)
    cursor = conn.cursor()  # the cheapest round trip psycopg makes: a cursor reused

    def once():
        cursor.execute("SELECT 1", prepare=True).fetchone()

    return once, conn.close


# Room for every thread: the default tenant llm_student of 2 would refuse the third.
LIMITS = {"llm_total": 30, "llm_student": 10}


def chain_hold(limiter: Limiter) -> tuple[Callable[[], None], Callable[[], None]]:
    def once():
        with limiter.hold("bench", LIMITS, "llm_student"):
            pass

    return once, lambda: None


def chain_alone(limiter: Limiter) -> tuple[Callable[[], None], Callable[[], None]]:
    """The backend's part: the chain's steps made once, as a cached hold would."""
    chain = limiter.backend.chain(limiter.steps("bench", LIMITS, "llm_student"))

    def once():
        permit, full = chain.try_acquire()
        assert full is None, "a permit was refused"
        permit.release()

    return once, lambda: None


def per_op_us(make: Callable, threads: int, number: int) -> float:
    """Median over ``threads`` threads of the µs one operation took in that thread."""
    made = [make() for _ in range(threads)]
    for once, _ in made:
        once()  # connect (and prepare) outside the measurement
    barrier = threading.Barrier(threads)
    costs: list[float] = [0.0] * threads

    def run(index: int) -> None:
        once = made[index][0]
        barrier.wait(timeout=60)
        started = time.perf_counter()
        for _ in range(number):
            once()
        costs[index] = (time.perf_counter() - started) / number * 1e6

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    for _, close in made:
        close()
    return statistics.median(costs)


def round_trips(once: Callable[[], None], number: int = 100) -> float:
    """Statements sent to PostgreSQL per operation, counted (one statement, one round trip)."""
    once()  # connect (and create the session's functions) outside the count
    sent = [0]
    execute = psycopg.Cursor.execute  # Connection.execute goes through it too

    def counted(self, *args, **kwargs):
        sent[0] += 1
        return execute(self, *args, **kwargs)

    psycopg.Cursor.execute = counted
    try:
        for _ in range(number):
            once()
    finally:
        psycopg.Cursor.execute = execute
    return sent[0] / number


def measure(url: str, number: int, rounds: int) -> dict:
    # No refusal happens here, so the refusal counter never touches its store.
    limiter = Limiter(PostgresBackend(url), Settings(), RejectionCounter(store=None))
    found: dict = {"round_trips": round_trips(chain_hold(limiter)[0])}
    try:
        for threads in THREADS:
            runs: dict[str, list[float]] = {"select1": [], "hold": [], "chain": []}
            for _ in range(rounds):
                runs["select1"].append(per_op_us(lambda: select_one(url), threads, number))
                runs["hold"].append(per_op_us(lambda: chain_hold(limiter), threads, number))
                if hasattr(limiter.backend, "chain"):
                    runs["chain"].append(
                        per_op_us(lambda: chain_alone(limiter), threads, number))
            found[f"threads_{threads}"] = {
                **{f"{case}_us": statistics.median(us) for case, us in runs.items() if us},
                **{f"{case}_ratio": statistics.median(c / s for c, s in zip(us, runs["select1"]))
                   for case, us in runs.items() if us and case != "select1"},
                "runs_us": runs}
        for owner, limit in (("bench", "llm_student"), ("bench", "llm_total"),
                             ("_global", "llm_student"), ("_global", "llm_total")):
            assert limiter.backend.inflight(owner, limit, 100) == 0, "a permit was not returned"
    finally:
        limiter.backend.close()
    return found


def measure_fleet_chain(number: int = 2000, rounds: int = 5) -> dict | None:
    """The figures, or None (with a message) without PostgreSQL binaries."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        print(SKIPPED, flush=True)
        return None
    server = PostgresServer(bin_dir)
    try:
        server.init()
        server.start()
        found = measure(server.create_database(), number, rounds)
    finally:
        server.destroy()
    found.update(number=number, rounds=rounds, loadavg_1m=os.getloadavg()[0])
    return found


def table_rows(found: dict | None) -> list[list[str]]:
    """Rows of `make bench`'s table (# fleet): the chain's cost in SELECT 1 round trips."""
    if not found:
        return []
    target = "≤ 3 (goal 2)"
    rows = [["fleet", "fleet chain acquire+release: round trips (statements, counted)",
             f"{found['round_trips']:g}", "1", f"{found['round_trips']:g}", target]]
    for threads in THREADS:
        row = found[f"threads_{threads}"]
        for case, label in (("hold", "Limiter.hold(llm_student)"), ("chain", "chain alone")):
            if f"{case}_us" in row:
                rows.append(["fleet", f"fleet {label}, {threads} thread(s), vs SELECT 1 (µs)",
                             f"{row[f'{case}_us']:.0f}", f"{row['select1_us']:.0f}",
                             f"{row[f'{case}_ratio']:.2f}", target])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="operations per thread and run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args(argv)
    found = measure_fleet_chain(args.number, args.rounds)
    if found is None:
        return 0
    print(f"round trips per acquire+release of the chain: {found['round_trips']:g}")
    print(f"{'threads':>7}  {'SELECT 1 µs':>11}  {'hold µs':>8}  {'÷ SELECT 1':>10}  "
          f"{'chain µs':>8}  {'÷ SELECT 1':>10}")
    for threads in THREADS:
        row = found[f"threads_{threads}"]
        chain = (f"{row['chain_us']:>8.1f}  {row['chain_ratio']:>10.2f}" if "chain_us" in row
                 else f"{'—':>8}  {'—':>10}")
        print(f"{threads:>7}  {row['select1_us']:>11.1f}  {row['hold_us']:>8.1f}  "
              f"{row['hold_ratio']:>10.2f}  {chain}")
    print(f"({args.rounds} rounds of {args.number} operations per thread; median; "
          f"load average {found['loadavg_1m']:.2f} on {os.cpu_count()} CPUs)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "fleet_chain",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **found}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

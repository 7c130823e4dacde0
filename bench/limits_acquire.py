"""Cost of one acquire/release of the limits semaphore pair, next to a plain semaphore.

    .venv/bin/python bench/limits_acquire.py [--number N] [--runs R]

Measures, uncontended and in one thread:

- ``Limiter.hold("llm_student")``: the whole pair (tenant llm_total, tenant llm_student,
  global llm_total, global llm_student) on a LocalBackend in a temporary directory;
- ``SlotFile`` acquire/release: one raw OFD slot lock;
- ``threading.BoundedSemaphore`` acquire/release: the in-process baseline.

Each is timed with ``timeit`` (``--number`` operations per run, ``--runs`` runs); the
table shows the median per-operation cost in microseconds. Results also go to
``bench/results/limits_acquire.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import timeit
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.limits.limiter import Limiter  # noqa: E402
from app.limits.local import LocalBackend  # noqa: E402
from app.limits.rejections import RejectionCounter  # noqa: E402
from app.limits.slots import SlotFile  # noqa: E402
from app.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "limits_acquire.json"


def limiter_pair(directory: Path):
    # No refusal happens here, so the refusal counter never touches its store.
    limiter = Limiter(LocalBackend(str(directory / "pair")), Settings(),
                      RejectionCounter(store=None))

    def once():
        with limiter.hold("bench", {}, "llm_student"):
            pass

    return once, limiter.backend.close


def raw_slot(directory: Path):
    slots = SlotFile(directory / "raw" / "ocr.slots")

    def once():
        slots.try_acquire(5).release()

    return once, slots.close


def bounded_semaphore(directory: Path):
    semaphore = threading.BoundedSemaphore(5)

    def once():
        semaphore.acquire()
        semaphore.release()

    return once, lambda: None


CASES = [
    ("Limiter.hold llm_student (4 slot locks)", limiter_pair),
    ("SlotFile acquire/release (1 slot lock)", raw_slot),
    ("threading.BoundedSemaphore acquire/release", bounded_semaphore),
]


def measure(factory, directory: Path, number: int, runs: int) -> list[float]:
    once, close = factory(directory)
    try:
        once()  # warm up: opens the slot files and their descriptions
        return [seconds / number * 1e6
                for seconds in timeit.repeat(once, number=number, repeat=runs)]
    finally:
        close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000, help="operations per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per case")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="tenantgate-bench-") as tmp:
        for label, factory in CASES:
            per_op = measure(factory, Path(tmp), args.number, args.runs)
            rows.append({"case": label, "median_us": statistics.median(per_op),
                         "min_us": min(per_op), "max_us": max(per_op), "runs_us": per_op})
    baseline = rows[-1]["median_us"]
    for row in rows:
        row["x_baseline"] = row["median_us"] / baseline

    width = max(len(row["case"]) for row in rows)
    print(f"{'case':<{width}}  {'median µs':>10}  {'min µs':>8}  {'max µs':>8}  {'x base':>7}")
    for row in rows:
        print(f"{row['case']:<{width}}  {row['median_us']:>10.2f}  {row['min_us']:>8.2f}  "
              f"{row['max_us']:>8.2f}  {row['x_baseline']:>7.1f}")
    load = os.getloadavg()
    print(f"({args.runs} runs of {args.number} operations each; median of the runs; "
          f"load average {load[0]:.2f} on {os.cpu_count()} CPUs)")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "limits_acquire",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_1m": load[0],
        "number": args.number,
        "runs": args.runs,
        "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

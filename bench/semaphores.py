"""One semaphore-pair acquire/release next to an uncontended threading.BoundedSemaphore.

bench/limits_acquire.py (the limits concern's own benchmark) is run when it exists; its
JSON is read back. Otherwise, or if its output cannot be read, the pair is measured
here: ``Limiter.hold("llm_student")`` on a LocalBackend in a temporary directory,
alternating with the BoundedSemaphore round by round.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from app.limits.limiter import Limiter
from app.limits.local import LocalBackend
from app.limits.rejections import RejectionCounter
from app.settings import Settings

from .load import spread

BENCH = Path(__file__).resolve().parent
SCRIPT = BENCH / "limits_acquire.py"
SCRIPT_RESULTS = BENCH / "results" / "limits_acquire.json"


def measure_pair(rounds: int = 5, number: int = 5000) -> dict:
    if SCRIPT.exists():
        found = _from_script(rounds, number)
        if found is not None:
            return found
    return _measure_here(rounds, number)


def _from_script(rounds: int, number: int) -> dict | None:
    try:
        subprocess.run([sys.executable, str(SCRIPT), "--number", str(number), "--runs",
                        str(rounds)], check=True, capture_output=True, timeout=300)
        rows = json.loads(SCRIPT_RESULTS.read_text())["results"]
        pair = next(r for r in rows if r["case"].startswith("Limiter.hold"))
        base = next(r for r in rows if "BoundedSemaphore" in r["case"])
    except (OSError, ValueError, KeyError, StopIteration, subprocess.SubprocessError) as exc:
        print(f"  bench/limits_acquire.py unusable ({exc!r}); measuring here", flush=True)
        return None
    return {"source": "bench/limits_acquire.py", "pair_us": spread(pair["runs_us"]),
            "semaphore_us": spread(base["runs_us"]),
            "ratio": spread([p / s for p, s in zip(pair["runs_us"], base["runs_us"])]),
            "extra": [r for r in rows if r not in (pair, base)]}


def _measure_here(rounds: int, number: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="tenantgate-bench-limits-") as tmp:
        # No refusal happens, so the refusal counter never touches a store.
        limiter = Limiter(LocalBackend(tmp), Settings(), RejectionCounter(store=None))
        semaphore = threading.BoundedSemaphore(5)

        def pair_once():
            with limiter.hold("bench", {}, "llm_student"):
                pass

        def semaphore_once():
            semaphore.acquire()
            semaphore.release()

        pair_once()  # opens the slot files once
        pair, base = [], []
        try:
            for index in range(rounds):
                cases = [(pair_once, pair), (semaphore_once, base)]
                for call, into in (cases if index % 2 == 0 else cases[::-1]):
                    into.append(_per_call_us(call, number))
        finally:
            limiter.backend.close()
    return {"source": "bench/semaphores.py", "pair_us": spread(pair),
            "semaphore_us": spread(base), "ratio": spread([p / s for p, s in zip(pair, base)])}


def _per_call_us(call, number: int) -> float:
    started = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - started) / number * 1e6

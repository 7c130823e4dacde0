"""Global readiness: runs the checks and emits the frozen readiness metrics from this code path."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..metrics.definitions import Metrics
from .checks import CheckRegistry, CheckResult


@dataclass(frozen=True)
class Evaluation:
    ready: bool
    results: list[CheckResult]
    warnings: list[str] = field(default_factory=list)


class GlobalReadiness:
    def __init__(self, checks: CheckRegistry, metrics: Metrics,
                 clock: Callable[[], float] = time.perf_counter):
        self.checks = checks
        self._metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._last_ready: bool | None = None

    def evaluate(self, exclude: Iterable[str] = ()) -> Evaluation:
        """Answer /readyz. Only the full evaluation (no exclusions) moves readiness_state."""
        exclude = list(exclude)
        warnings = [f"unknown check {name!r} in exclude" for name in exclude
                    if name not in self.checks]
        started = self._clock()
        results = self.checks.run_all(exclude)
        ready = all(r.ok for r in results)
        self._metrics.readiness_check_duration.observe(self._clock() - started)
        for result in results:
            self._metrics.readiness_check_ok.labels(check=result.name).set(int(result.ok))
        if not exclude:
            self._record(ready)
        return Evaluation(ready, results, warnings)

    def evaluate_one(self, name: str) -> CheckResult:
        result = self.checks.run(name)
        self._metrics.readiness_check_ok.labels(check=name).set(int(result.ok))
        return result

    def is_ready(self, after_store_read: bool = False) -> bool:
        """Read-only answer for tenants that inherit global readiness: touches no metric.
        ``after_store_read``: the caller just read the store, so checks that would read
        it again run without that read (the store check still probes writes)."""
        return all(r.ok for r in self.checks.run_all(after_read=after_store_read))

    def _record(self, ready: bool) -> None:
        with self._lock:
            changed = self._last_ready is not None and self._last_ready != ready
            self._last_ready = ready
        self._metrics.readiness_state.set(int(ready))
        if changed:
            self._metrics.readiness_transitions.inc()

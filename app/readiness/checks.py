"""Global readiness checks: a small registry of named, timed checks.

A check is a callable that returns on success and raises on failure; its error
message is reported under its stable name. Tenant state is never a check.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

Check = Callable[[], None]


class CheckFailed(Exception):
    """Raised by a check to report a failure with a plain message."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    duration_ms: float
    error: str | None

    def as_dict(self) -> dict:
        return asdict(self)


class CheckRegistry:
    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self._checks: dict[str, Check] = {}
        self._after_read: dict[str, Check] = {}
        self._clock = clock

    def add(self, name: str, check: Check, after_read: Check | None = None) -> None:
        """``after_read``: the same check for a caller whose store read just succeeded
        (what the check would read again is left out)."""
        if name in self._checks:
            raise ValueError(f"readiness check {name!r} is already registered")
        self._checks[name] = check
        if after_read is not None:
            self._after_read[name] = after_read

    def names(self) -> list[str]:
        return list(self._checks)

    def __contains__(self, name: str) -> bool:
        return name in self._checks

    def run(self, name: str, after_read: bool = False) -> CheckResult:
        check = self._after_read.get(name) if after_read else None
        check = check or self._checks[name]
        started = self._clock()
        try:
            check()
        except Exception as exc:  # any failure of a dependency means "not ready", with its reason
            error = str(exc) or type(exc).__name__
            return CheckResult(name, False, self._ms_since(started), error)
        return CheckResult(name, True, self._ms_since(started), None)

    def run_all(self, exclude: Iterable[str] = (), after_read: bool = False) -> list[CheckResult]:
        skipped = set(exclude)
        return [self.run(name, after_read) for name in self._checks if name not in skipped]

    def _ms_since(self, started: float) -> float:
        return round((self._clock() - started) * 1000, 3)

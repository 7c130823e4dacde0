"""Job kinds: what application teams register (a handler, and the limit it runs under)."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

KIND_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,62}")


class UnknownJobKind(LookupError):
    """No handler is registered for this kind of job (in this app)."""


class JobFailed(Exception):
    """Raised by a handler for a failure that trying again cannot fix: the job is failed
    at once with ``error`` (a type name, as every job error is), not retried."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class TenantJob:
    """What a handler is given: the job, and the runtime of its tenant in this worker."""
    job_id: str
    tenant: str
    workspace: str
    kind: str
    payload: Any
    attempts: int  # this try included
    runtime: Any


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Callable[[TenantJob], Any]
    limit: str | None


class JobKinds:
    def __init__(self):
        self._kinds: dict[str, JobKind] = {}
        self._lock = threading.Lock()

    def register(self, name: str, handler: Callable[[TenantJob], Any],
                 limit: str | None = None) -> JobKind:
        if not isinstance(name, str) or not KIND_PATTERN.fullmatch(name):
            raise ValueError(f"job kind {name!r}: lower-case letters, digits, '_.-'")
        if not callable(handler):
            raise TypeError(f"job kind {name!r}: the handler must be callable")
        kind = JobKind(name, handler, limit)
        with self._lock:
            self._kinds[name] = kind
        return kind

    def get(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownJobKind(name) from None

    def names(self) -> list[str]:
        return sorted(self._kinds)

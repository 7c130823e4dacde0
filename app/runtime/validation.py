"""Running a tenant's validator: on a thread of its own, under a deadline, one call at a time.

A thread per call, not a shared pool: tenants whose validators hang cannot use up the
threads another tenant's validation needs (contract sec. 17). A call that overruns is
abandoned (it finishes, or hangs, on its own) and counts as a transient failure; while
it has not returned, the next validation of that tenant fails at once instead of
starting another thread.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, Callable

from .health import OK, TRANSIENT, Outcome, ValidationFailure, outcome_of

Validator = Callable[[Any], Any]


class ValidatorCall:
    """The validation of one tenant: at most one call in flight."""

    def __init__(self, tenant: str, validator: Validator | None, timeout: float):
        self._tenant = tenant
        self._validator = validator
        self._timeout = timeout
        self._running: Future | None = None

    def run(self, runtime: Any) -> Outcome:
        if self._validator is None:
            return OK
        if self._running is not None and not self._running.done():
            return Outcome(False, TRANSIENT, "previous validator call has not returned",
                           timed_out=True)
        future: Future = Future()
        validator = self._validator

        def call() -> None:
            try:
                future.set_result(validator(runtime))
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)

        self._running = future
        threading.Thread(target=call, daemon=True,
                         name=f"tenant-{self._tenant}-validator").start()
        try:
            return outcome_of(future.result(self._timeout))
        except ValidationFailure as failure:
            return Outcome(False, failure.kind, failure.reason)
        except Exception as exc:  # an unexpected validator error is a transient failure
            if not future.done():  # abandoned at the deadline; it may finish on its own
                return Outcome(False, TRANSIENT,
                               f"validator timed out after {self._timeout:g}s", timed_out=True)
            return Outcome(False, TRANSIENT, f"validator raised {type(exc).__name__}: {exc}")
        finally:
            if future.done():
                # Only a call still running is remembered: a finished future (its lock,
                # condition and result, about 1.5 KiB) would stay with every loaded tenant.
                self._running = None

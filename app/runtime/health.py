"""The tenant health state machine (contract sec. 5) and validator outcomes.

pending -> healthy | disabled; healthy -> unverified (transient failure);
healthy | unverified -> disabled (permanent failure); unverified | disabled -> healthy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PENDING, HEALTHY, UNVERIFIED, DISABLED = "pending", "healthy", "unverified", "disabled"
TRANSIENT, PERMANENT = "transient", "permanent"


class ValidationFailure(Exception):
    """Raised by a validator: ``kind`` is transient or permanent, with a plain reason.

    ``recovery=`` is the same as ``kind`` under the name application teams use (sec. 12).
    """

    def __init__(self, reason: str, kind: str = TRANSIENT, *, recovery: str | None = None):
        kind = recovery if recovery is not None else kind
        if kind not in (TRANSIENT, PERMANENT):
            raise ValueError(f"kind must be {TRANSIENT!r} or {PERMANENT!r}")
        super().__init__(reason)
        self.reason = reason
        self.kind = kind

    @property
    def recovery(self) -> str:
        return self.kind


@dataclass(frozen=True)
class Outcome:
    ok: bool
    kind: str | None = None
    reason: str | None = None
    timed_out: bool = False  # the validator overran its deadline (or has not returned since)


OK = Outcome(True)


def outcome_of(result: Any) -> Outcome:
    """Validators may be plain callables: None/True is ok, False a permanent failure."""
    if result is None or result is True:
        return OK
    if result is False:
        return Outcome(False, PERMANENT, "validator returned false")
    if isinstance(result, Outcome):
        return result
    raise TypeError(f"validator returned {type(result).__name__}, expected None or bool")


def next_state(current: str, outcome: Outcome) -> str:
    if outcome.ok:
        return HEALTHY
    if current == PENDING or outcome.kind == PERMANENT:
        return DISABLED
    if current == HEALTHY:
        return UNVERIFIED
    return current  # unverified stays unverified; disabled stays disabled

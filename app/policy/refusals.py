"""What the tenant policy refuses, and the UTC day its daily caps count in.

The refusals are plain exceptions; app/errors.py says how each is answered
(403 model_not_allowed, 429 budget_exceeded).
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

SECONDS_PER_DAY = 86_400


class ModelNotAllowed(Exception):
    """The model is not in the tenant's ``models.allowed``."""

    def __init__(self, tenant: str, model: str):
        super().__init__(f"model {model!r} is not allowed for tenant {tenant}")
        self.tenant = tenant
        self.model = model


class BudgetExceeded(Exception):
    """A spend would pass a cap of the tenant's budget: ``scope`` is request or daily."""

    def __init__(self, tenant: str, scope: str, limit_micros: int | None = None,
                 remaining_micros: int | None = None, now: float | None = None):
        super().__init__(f"tenant {tenant}: {scope} budget exceeded")
        self.tenant = tenant
        self.scope = scope
        self.limit_micros = limit_micros
        self.remaining_micros = remaining_micros
        self.now = now

    @property
    def resets_at(self) -> str:
        return iso_utc(next_midnight(self.now or 0.0))

    @property
    def retry_after(self) -> int:
        """Whole seconds until the next UTC midnight (at least 1)."""
        return max(1, math.ceil(next_midnight(self.now or 0.0) - (self.now or 0.0)))


def utc_day(now: float) -> str:
    """The UTC date of Unix time ``now``: the day a spend counts against."""
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")


def next_midnight(now: float) -> float:
    """Unix time of the UTC midnight after ``now``: when the daily caps start again."""
    return (math.floor(now / SECONDS_PER_DAY) + 1) * SECONDS_PER_DAY


def iso_utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

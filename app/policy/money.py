"""Money: USD amounts as integer micro-dollars (1 USD = 1,000,000), never floats in the store.

Configured amounts (a tenant's budget) must be exact: at most 6 decimals, or they are
refused. Amounts computed by code (an estimate, a settle) are rounded up to the next
micro-dollar, so a budget is never under-counted by rounding.
"""
from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal, InvalidOperation

MICROS_PER_USD = 1_000_000
MAX_USD = 1_000_000_000  # far above any daily budget; keeps every sum within 64 bits
MAX_DECIMALS = 6


class InvalidAmount(ValueError):
    """Not an amount of USD Tenantgate accepts (the message says why)."""


def _decimal(value: object) -> Decimal:
    """``value`` as a Decimal: a JSON number (int or float, never a bool) or Decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise InvalidAmount("Must be a number of USD.")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidAmount("Must be a finite number.")
    try:
        # repr: the shortest text that reads back as this float, i.e. what the JSON said.
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise InvalidAmount("Must be a number of USD.") from None
    if not number.is_finite():
        raise InvalidAmount("Must be a finite number.")
    if number < 0:
        raise InvalidAmount("Must be at least 0.")
    if number > MAX_USD:
        raise InvalidAmount(f"Must be at most {MAX_USD}.")
    return number


def exact_micros(value: object) -> int:
    """A configured amount in micro-dollars; more than 6 decimals is refused, not rounded."""
    number = _decimal(value)
    if number != number.quantize(Decimal(1).scaleb(-MAX_DECIMALS), rounding=ROUND_CEILING):
        raise InvalidAmount(f"Must have at most {MAX_DECIMALS} decimals.")
    return int(number * MICROS_PER_USD)


def micros_up(value: object) -> int:
    """A computed amount in micro-dollars, rounded up."""
    number = _decimal(value) * MICROS_PER_USD
    return int(number.to_integral_value(rounding=ROUND_CEILING))


def usd(micros: int) -> float:
    """Micro-dollars as a JSON number of USD (exact to its 6 decimals when printed)."""
    return micros / MICROS_PER_USD

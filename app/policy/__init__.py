"""Tenant policy (contract sec. 14): which models a tenant may use and what it may spend.

``tenant_spend(model=..., estimate_usd=...)`` is the one entry point for code that calls a
model; the refusals are plain exceptions answered by app/errors.py.
"""
from __future__ import annotations

from .metrics import PolicyCollector
from .refusals import BudgetExceeded, ModelNotAllowed
from .spend import Charge, Policy, tenant_spend

__all__ = ["BudgetExceeded", "Charge", "ModelNotAllowed", "Policy", "PolicyCollector",
           "tenant_spend"]

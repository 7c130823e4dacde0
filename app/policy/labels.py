"""Label values of tenant_model_requests_total, bounded whatever a client sends.

A model is named in a tenant's series only when it is in that tenant's allowed list
(so in "some tenant's allowed list", contract sec. 14); any other model is ``other``.
A tenant without a list therefore counts every model as ``other``: its clients choose
the names, and a label must not grow with what clients choose. Workspaces are ``main``
or ``other``.
"""
from __future__ import annotations

from typing import Iterable

OTHER = "other"
MAIN_WORKSPACE = "main"
OUTCOMES = ("settled", "overshoot", "released", "model_not_allowed", "budget_exceeded")


def model_label(model: str, allowed: Iterable[str] | None) -> str:
    return model if allowed is not None and model in allowed else OTHER


def workspace_label(workspace: str) -> str:
    return workspace if workspace == MAIN_WORKSPACE else OTHER

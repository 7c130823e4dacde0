"""Tenant faults, configured in a tenant's ``extra.chaos`` so every worker sees the same.

``{"chaos": {"readiness": "raise" | "hang" | "lock", "seconds": N}}`` makes that
tenant's readiness resolution raise, hang for N seconds, or run into a store
write lock held for N seconds. Ignored entirely unless CHAOS_ENABLED=1.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

from ..store import Store

MAX_SECONDS = 60.0


class InjectedFault(RuntimeError):
    """A failure injected on purpose."""


@dataclass(frozen=True)
class Fault:
    kind: str
    seconds: float


def fault_for(extra: Mapping[str, Any], stage: str) -> Fault | None:
    spec = extra.get("chaos")
    if not isinstance(spec, dict) or not isinstance(spec.get(stage), str):
        return None
    seconds = spec.get("seconds", 10)
    seconds = float(seconds) if isinstance(seconds, (int, float)) else 10.0
    return Fault(spec[stage], min(max(seconds, 0.0), MAX_SECONDS))


def inject(fault: Fault, store: Store, tenant_id: str) -> None:
    if fault.kind == "raise":
        raise InjectedFault(f"injected failure for tenant {tenant_id}")
    if fault.kind == "hang":
        time.sleep(fault.seconds)
        return
    if fault.kind == "lock":
        _hold_write_lock(store, fault.seconds)
        # Now touch this tenant's row: the write waits on the lock like a real contended row.
        with store.db.write() as conn:
            conn.execute("UPDATE tenants SET readiness_status = readiness_status "
                         "WHERE tenant_id = ?", (tenant_id,))
        return
    raise InjectedFault(f"unknown chaos fault {fault.kind!r}")


def _hold_write_lock(store: Store, seconds: float) -> None:
    locked = threading.Event()

    def hold():
        with store.db.write():
            locked.set()
            time.sleep(seconds)

    threading.Thread(target=hold, daemon=True, name="chaos-lock").start()
    locked.wait(5)

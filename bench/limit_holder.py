"""Holds tenants' permits from the benchmark process, so that a server's requests are refused.

The local backend's permits are OFD locks on slot files that every process opening
them shares: a permit held here is, to a worker, exactly one held by another
worker's request. Holding from outside takes no request thread of the server (a
holder request through the chaos route would), lasts as long as the run (a chaos hold
ends after 30 s), and can hold every tenant of a spread at once. Only the
tenant-scope slots are held, so the global pool stays free for everyone else.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

from app.limits.local import LocalBackend
from app.limits.slots import Permit


@contextmanager
def holding(limit_dir: str, tenants: Iterable[str], limit: str, capacity: int) -> Iterator[None]:
    """Hold all ``capacity`` permits of each tenant's ``limit`` for the block."""
    backend = LocalBackend(limit_dir)
    permits: list[Permit] = []
    try:
        for tenant in tenants:
            semaphore = backend.semaphore(tenant, limit, capacity)
            for _ in range(capacity):
                permit = semaphore.try_acquire()
                if permit is None:
                    raise RuntimeError(f"{tenant}'s {limit} is already held by someone else")
                permits.append(permit)
        yield
    finally:
        for permit in permits:
            permit.release()
        backend.close()

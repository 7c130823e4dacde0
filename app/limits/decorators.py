"""``limited(name)`` and ``tenant_limit(name)``: the semaphore pair for tenant-scoped code."""
from __future__ import annotations

from contextlib import contextmanager
from functools import wraps
from typing import Callable, Iterator

from ..runtime.dispatch import tenant_runtime
from ..services import services


@contextmanager
def tenant_limit(name: str) -> Iterator[None]:
    """Hold the request tenant's ``name`` limit (tenant, then global) for the block."""
    runtime = tenant_runtime()
    with services().limiter.hold(runtime.tenant, runtime.record.limits, name):
        yield


def limited(name: str) -> Callable:
    """Route decorator for tenant-scoped views: refusals answer 429 (tenant) or 503 (global)."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            with tenant_limit(name):
                return view(*args, **kwargs)
        return wrapper
    return decorate

"""The Limiter: builds the permit chain for a tenant's named limit and holds it."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

from ..settings import Settings
from .local import GLOBAL_OWNER, LocalBackend
from .names import chain, tenant_limits
from .pair import LimitRefused, Step, UnknownLimit, hold
from .rejections import RejectionCounter
from .whole_chain import hold_whole

# Background work (processing an upload) waits this long per attempt for a permit, and
# tries again later when refused, instead of failing as a request would.
BACKGROUND_WAIT_SECONDS = 1.0


class Limiter:
    def __init__(self, backend: LocalBackend, settings: Settings, counter: RejectionCounter):
        self.backend = backend
        self.settings = settings
        self.counter = counter
        # A backend that takes a whole chain in one attempt (all steps or none) has chain().
        self._whole = getattr(backend, "chain", None)

    def steps(self, tenant: str, overrides: Mapping[str, int], name: str) -> list[Step]:
        mine = tenant_limits(overrides)
        found = chain(name, mine, self.settings.global_limits)
        if not found:
            raise UnknownLimit(name)
        return [Step(scope, limit, self.backend.semaphore(
                    tenant if scope == "tenant" else GLOBAL_OWNER, limit,
                    mine[limit] if scope == "tenant" else self.settings.global_limits[limit]))
                for scope, limit in found]

    @contextmanager
    def hold(self, tenant: str, overrides: Mapping[str, int], name: str,
             wait_seconds: float | None = None) -> Iterator[None]:
        """Hold ``name`` for ``tenant`` (tenant then global), or raise LimitRefused.

        Waits up to LIMIT_WAIT_SECONDS for a permit, or ``wait_seconds`` if given.
        """
        steps = self.steps(tenant, overrides, name)
        wait = self.settings.limit_wait_seconds if wait_seconds is None else wait_seconds
        try:
            permits = hold(steps, wait) if self._whole is None else \
                hold_whole(self._whole(steps), wait)
            permits.__enter__()
        except LimitRefused as refused:
            self.counter.add(tenant, refused.limit, refused.scope)
            raise
        try:
            yield
        finally:
            permits.__exit__(None, None, None)

    def background_hold(self, tenant: str, overrides: Mapping[str, int], name: str):
        """``hold`` for background work: it may wait BACKGROUND_WAIT_SECONDS."""
        return self.hold(tenant, overrides, name, wait_seconds=BACKGROUND_WAIT_SECONDS)

    def close(self) -> None:
        self.counter.stop()
        self.backend.close()

"""The Limiter: builds the permit chain for a tenant's named limit and holds it."""
from __future__ import annotations

from typing import Mapping

from ..settings import Settings
from .local import GLOBAL_OWNER, LocalBackend
from .names import chain, tenant_limits
from .pair import LimitRefused, Step, UnknownLimit, hold
from .rejections import RejectionCounter
from .whole_chain import hold_whole

# Background work (processing an upload) waits this long per attempt for a permit, and
# tries again later when refused, instead of failing as a request would.
BACKGROUND_WAIT_SECONDS = 1.0


# Chains cached per worker: (tenant, name) pairs seen, bounded since tenants come and go.
STEPS_CACHE_SIZE = 4096


class Limiter:
    def __init__(self, backend: LocalBackend, settings: Settings, counter: RejectionCounter):
        self.backend = backend
        self.settings = settings
        self.counter = counter
        # (tenant, name) -> (the overrides they were built from, steps). A tenant's limits
        # change by a new record, whose overrides compare unequal: the chain is rebuilt.
        self._steps: dict[tuple[str, str], tuple[Mapping[str, int], list[Step]]] = {}
        # A backend that takes a whole chain in one attempt (all steps or none) has chain();
        # its chains are cached the same way as the steps.
        self._whole = getattr(backend, "chain", None)
        self._chains: dict[tuple[str, str], tuple[Mapping[str, int], object]] = {}

    def steps(self, tenant: str, overrides: Mapping[str, int], name: str) -> list[Step]:
        return _cached(self._steps, tenant, overrides, name, self._build)

    def _build(self, tenant: str, overrides: Mapping[str, int], name: str) -> list[Step]:
        mine = tenant_limits(overrides)
        found = chain(name, mine, self.settings.global_limits)
        if not found:
            raise UnknownLimit(name)
        return [Step(scope, limit, self.backend.semaphore(
                    tenant if scope == "tenant" else GLOBAL_OWNER, limit,
                    mine[limit] if scope == "tenant" else self.settings.global_limits[limit]))
                for scope, limit in found]

    def hold(self, tenant: str, overrides: Mapping[str, int], name: str,
             wait_seconds: float | None = None) -> "_Counting":
        """Hold ``name`` for ``tenant`` (tenant then global), or raise LimitRefused.

        Waits up to LIMIT_WAIT_SECONDS for a permit, or ``wait_seconds`` if given.
        """
        wait = self.settings.limit_wait_seconds if wait_seconds is None else wait_seconds
        if self._whole is not None:
            return _CountedWhole(self._chain(tenant, overrides, name), wait, self.counter,
                                 tenant)
        return _CountedHold(self.steps(tenant, overrides, name), wait, self.counter, tenant)

    def _chain(self, tenant: str, overrides: Mapping[str, int], name: str):
        # Cached as the steps are (one lookup per hold), rebuilt with them.
        return _cached(self._chains, tenant, overrides, name, self._build_chain)

    def _build_chain(self, tenant: str, overrides: Mapping[str, int], name: str):
        return self._whole(self.steps(tenant, overrides, name))

    def background_hold(self, tenant: str, overrides: Mapping[str, int], name: str):
        """``hold`` for background work: it may wait BACKGROUND_WAIT_SECONDS."""
        return self.hold(tenant, overrides, name, wait_seconds=BACKGROUND_WAIT_SECONDS)

    def close(self) -> None:
        self.counter.stop()
        self.backend.close()


def _cached(cache: dict, tenant: str, overrides: Mapping[str, int], name: str, build):
    """``cache[(tenant, name)]`` while it was built from overrides equal to these, else
    ``build(tenant, overrides, name)``, kept; the cache is emptied when full."""
    cached = cache.get((tenant, name))
    if cached is not None and (cached[0] is overrides or cached[0] == overrides):
        return cached[1]
    made = build(tenant, overrides, name)
    if len(cache) >= STEPS_CACHE_SIZE:
        cache.clear()
    cache[(tenant, name)] = (dict(overrides), made)
    return made


class _Counting:
    """A hold (the pair's, or a whole chain's) counting a refusal against the tenant."""

    __slots__ = ()

    def refused(self, refused: LimitRefused) -> None:
        self._counter.add(self._tenant, refused.limit, refused.scope)


class _CountedHold(_Counting, hold):
    __slots__ = ("_counter", "_tenant")

    def __init__(self, steps: list[Step], wait: float, counter: RejectionCounter,
                 tenant: str):
        hold.__init__(self, steps, wait)
        self._counter, self._tenant = counter, tenant


class _CountedWhole(_Counting, hold_whole):
    __slots__ = ("_counter", "_tenant")

    def __init__(self, chain, wait: float, counter: RejectionCounter, tenant: str):
        hold_whole.__init__(self, chain, wait)
        self._counter, self._tenant = counter, tenant

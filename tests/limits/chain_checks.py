"""Checks every permit-chain backend must pass (local slot files, fleet PostgreSQL)."""
from __future__ import annotations

import pytest

from app.limits.limiter import Limiter
from app.limits.pair import LimitRefused
from app.settings import Settings


class Counted:
    """A refusal counter that keeps what it was told."""

    def __init__(self):
        self.refusals = []

    def add(self, tenant, limit, scope):
        self.refusals.append((tenant, limit, scope))


def check_a_refusal_names_the_full_step(one, other, untouched) -> None:
    """Through a Limiter on ``one``, with ``other`` (the same backend, another worker or
    host) filling first global llm_total and then tenant llm_student: each refusal names
    the full step and is counted, and the (owner, limit) pairs ``untouched`` hold none."""
    counter = Counted()
    settings = Settings(global_limits={"llm_total": 1, "llm_student": 50})
    limiter = Limiter(one, settings, counter)
    blockers = [other.semaphore("_global", "llm_total", 1).try_acquire()]
    with pytest.raises(LimitRefused) as refused:
        with limiter.hold("acme", {}, "llm_student"):
            pass
    assert (refused.value.scope, refused.value.limit) == ("global", "llm_total")
    blockers[0].release()
    blockers = [other.semaphore("acme", "llm_student", 2).try_acquire() for _ in range(2)]
    with pytest.raises(LimitRefused) as refused:
        with limiter.hold("acme", {}, "llm_student"):
            pass
    assert (refused.value.scope, refused.value.limit) == ("tenant", "llm_student")
    assert counter.refusals == [("acme", "llm_total", "global"), ("acme", "llm_student", "tenant")]
    assert [other.inflight(owner, name, 100) for owner, name in untouched] == [0] * len(untouched)
    for blocker in blockers:
        blocker.release()

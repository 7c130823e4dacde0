"""The semaphore pair (app/limits/pair.py) and limit names, proven with recording fakes.

No threads, no slot files, no sleeping: every semaphore is a fake that records what
happens to it, and waiting runs on an injected clock.
"""
from __future__ import annotations

import pytest

from app.errors import api_error_for

from app.limits.names import chain, tenant_limits, total_of
from app.limits.pair import LimitRefused, Step, hold
from app.settings import DEFAULT_GLOBAL_LIMITS, DEFAULT_TENANT_LIMITS

STUDENT_ORDER = [("tenant", "llm_total"), ("tenant", "llm_student"),
                 ("global", "llm_total"), ("global", "llm_student")]


class FakePermit:
    def __init__(self, log: list, scope: str, limit: str):
        self.log, self.scope, self.limit = log, scope, limit
        self.released = 0

    def release(self) -> None:
        self.released += 1
        self.log.append(("release", self.scope, self.limit))


class FakeSemaphore:
    """Records every attempt; ``refusals`` attempts are refused before one succeeds
    (``None``: refused forever)."""

    def __init__(self, log: list, scope: str, limit: str, refusals: int | None = 0):
        self.log, self.scope, self.limit = log, scope, limit
        self.refusals = refusals
        self.attempts = 0
        self.permits: list[FakePermit] = []

    def try_acquire(self) -> FakePermit | None:
        self.attempts += 1
        if self.refusals is None or self.attempts <= self.refusals:
            self.log.append(("refuse", self.scope, self.limit))
            return None
        self.log.append(("acquire", self.scope, self.limit))
        permit = FakePermit(self.log, self.scope, self.limit)
        self.permits.append(permit)
        return permit


class FakeClock:
    """A clock that only moves when the pair pauses."""

    def __init__(self):
        self.now = 1000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        assert seconds > 0
        self.pauses.append(seconds)
        self.now += seconds


def student_steps(log: list, refusals: dict | None = None) -> list[Step]:
    refusals = refusals or {}
    found = chain("llm_student", tenant_limits({}), DEFAULT_GLOBAL_LIMITS)
    return [Step(scope, limit, FakeSemaphore(log, scope, limit, refusals.get((scope, limit), 0)))
            for scope, limit in found]


def releases_in_reverse(acquired: list[tuple]) -> list[tuple]:
    return [("release", scope, limit) for _, scope, limit in reversed(acquired)]


# -- order ---------------------------------------------------------------------------------

def test_chain_orders_tenant_total_role_then_global_total_role():
    assert chain("llm_student", tenant_limits({}), DEFAULT_GLOBAL_LIMITS) == STUDENT_ORDER


def test_hold_acquires_in_fixed_order_and_releases_in_exact_reverse():
    log: list = []
    with hold(student_steps(log)):
        inside = list(log)
    acquired = [("acquire", scope, limit) for scope, limit in STUDENT_ORDER]
    assert inside == acquired
    assert log == acquired + releases_in_reverse(acquired)


def test_hold_releases_every_permit_in_reverse_when_the_block_raises():
    log: list = []
    steps = student_steps(log)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with hold(steps):
            raise Boom()
    acquired = [("acquire", scope, limit) for scope, limit in STUDENT_ORDER]
    assert log == acquired + releases_in_reverse(acquired)
    assert [p.released for s in steps for p in s.semaphore.permits] == [1, 1, 1, 1]


# -- refusal -------------------------------------------------------------------------------

@pytest.mark.parametrize("refused_at, status", [(0, 429), (1, 429), (2, 503), (3, 503)])
def test_refusal_at_step_k_releases_earlier_steps_in_reverse_and_names_the_limit(
        refused_at, status):
    log: list = []
    scope, limit = STUDENT_ORDER[refused_at]
    steps = student_steps(log, {(scope, limit): None})
    entered = False
    with pytest.raises(LimitRefused) as caught:
        with hold(steps):
            entered = True
    assert not entered
    refused, answer = caught.value, api_error_for(caught.value)  # how the API answers it
    assert (refused.scope, refused.limit, answer.status) == (scope, limit, status)
    assert answer.body() == {"error": "concurrency_limit", "scope": scope, "limit": limit}
    assert answer.headers["Retry-After"].isdigit() and int(answer.headers["Retry-After"]) >= 1
    acquired = [("acquire", s, n) for s, n in STUDENT_ORDER[:refused_at]]
    assert log == acquired + [("refuse", scope, limit)] + releases_in_reverse(acquired)
    # Later steps were never tried.
    assert [s.semaphore.attempts for s in steps[refused_at + 1:]] == [0] * (3 - refused_at)


def test_refusal_without_wait_tries_once_and_never_pauses():
    log: list = []
    clock = FakeClock()
    steps = student_steps(log, {("tenant", "llm_student"): None})
    with pytest.raises(LimitRefused):
        with hold(steps, 0.0, clock=clock, pause=clock.pause):
            pass
    assert steps[1].semaphore.attempts == 1
    assert clock.pauses == []


# -- waiting -------------------------------------------------------------------------------

def test_waiting_acquires_a_permit_freed_after_a_few_attempts():
    log: list = []
    clock = FakeClock()
    steps = student_steps(log, {("global", "llm_student"): 3})
    with hold(steps, 2.0, clock=clock, pause=clock.pause):
        inside = list(log)
    assert steps[3].semaphore.attempts == 4
    assert len(clock.pauses) == 3
    assert clock.now - 1000.0 < 2.0
    acquired = [("acquire", scope, limit) for scope, limit in STUDENT_ORDER]
    assert [e for e in inside if e[0] == "acquire"] == acquired
    assert log[len(inside):] == releases_in_reverse(acquired)


def test_waiting_for_a_permit_never_freed_refuses_at_the_deadline():
    log: list = []
    clock = FakeClock()
    steps = student_steps(log, {("tenant", "llm_student"): None})
    with pytest.raises(LimitRefused) as caught:
        with hold(steps, 0.5, clock=clock, pause=clock.pause):
            pass
    assert (caught.value.scope, caught.value.limit, api_error_for(caught.value).status) == \
        ("tenant", "llm_student", 429)
    assert clock.now == pytest.approx(1000.5)  # waited exactly up to the deadline, no longer
    assert all(p <= 0.05 for p in clock.pauses)  # short back-off steps, capped
    assert steps[1].semaphore.attempts == len(clock.pauses) + 1 > 3
    assert log[-1] == ("release", "tenant", "llm_total")
    assert steps[0].semaphore.permits[0].released == 1
    assert [s.semaphore.attempts for s in steps[2:]] == [0, 0]


def test_the_wait_deadline_is_shared_by_all_steps_of_one_hold():
    log: list = []
    clock = FakeClock()
    # The tenant role needs most of the budget; the global total then never frees.
    steps = student_steps(log, {("tenant", "llm_student"): 10, ("global", "llm_total"): None})
    with pytest.raises(LimitRefused) as caught:
        with hold(steps, 1.0, clock=clock, pause=clock.pause):
            pass
    assert (caught.value.scope, caught.value.limit) == ("global", "llm_total")
    assert clock.now == pytest.approx(1001.0)
    assert log[-2:] == [("release", "tenant", "llm_student"), ("release", "tenant", "llm_total")]


# -- names ---------------------------------------------------------------------------------

def test_roles_nest_under_their_family_total():
    known = tenant_limits({})
    assert total_of("llm_student", known) == "llm_total"
    assert total_of("llm_teacher", known) == "llm_total"
    assert total_of("llm_total", known) is None


def test_ocr_has_no_total_and_chains_tenant_then_global():
    assert total_of("ocr", tenant_limits({})) is None
    assert chain("ocr", tenant_limits({}), DEFAULT_GLOBAL_LIMITS) == \
        [("tenant", "ocr"), ("global", "ocr")]


def test_a_total_chains_only_itself_per_scope():
    assert chain("llm_total", tenant_limits({}), DEFAULT_GLOBAL_LIMITS) == \
        [("tenant", "llm_total"), ("global", "llm_total")]


@pytest.mark.parametrize("name", ["nope", "llm", "llm_bogus", "ocr_extra", "LLM_STUDENT", ""])
def test_unknown_names_chain_to_nothing(name):
    assert chain(name, tenant_limits({}), DEFAULT_GLOBAL_LIMITS) == []


def test_tenant_overrides_replace_only_the_named_defaults():
    mine = tenant_limits({"llm_student": 7})
    assert mine == {**DEFAULT_TENANT_LIMITS, "llm_student": 7}
    assert DEFAULT_TENANT_LIMITS["llm_student"] == 2  # the defaults themselves are untouched
    assert tenant_limits({}) == DEFAULT_TENANT_LIMITS


def test_a_tenant_only_role_nests_under_the_tenant_total_and_skips_the_global_scope():
    mine = tenant_limits({"llm_tutor": 3})
    assert chain("llm_tutor", mine, DEFAULT_GLOBAL_LIMITS) == \
        [("tenant", "llm_total"), ("tenant", "llm_tutor")]


def test_a_server_only_limit_is_global_scope_only():
    server = {**DEFAULT_GLOBAL_LIMITS, "embed": 4}
    assert chain("embed", tenant_limits({}), server) == [("global", "embed")]

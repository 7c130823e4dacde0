"""The local permit chain (LocalBackend.chain): every step taken in order in one call,
the steps before a full one given back in that call, a refusal naming the full step, and
a waiting chain retried whole, holding nothing between attempts. Two backends on one
directory stand for two workers of one server."""
from __future__ import annotations

import os

import pytest

from app.limits.limiter import Limiter
from app.limits.local import LocalBackend
from app.limits.pair import LimitRefused, Step
from app.limits.slots import SlotFile
from app.limits.whole_chain import hold_whole
from app.settings import Settings
from tests.limits.chain_checks import Counted, check_a_refusal_names_the_full_step

CHAIN = (("tenant", "acme", "llm_total", 5), ("tenant", "acme", "llm_student", 2),
         ("global", "_global", "llm_total", 1), ("global", "_global", "llm_student", 5))


@pytest.fixture
def backends(tmp_path):
    made = [LocalBackend(str(tmp_path)), LocalBackend(str(tmp_path))]
    yield made
    for backend in made:
        backend.close()


def steps_of(backend: LocalBackend) -> list[Step]:
    return [Step(scope, limit, backend.semaphore(owner, limit, capacity))
            for scope, owner, limit, capacity in CHAIN]


def held(backend: LocalBackend) -> list[int]:
    return [backend.inflight(owner, limit, capacity) for _, owner, limit, capacity in CHAIN]


def test_a_full_later_step_gives_back_the_earlier_ones_in_the_same_call(backends):
    one, two = backends
    blocker = two.semaphore("_global", "llm_total", 1).try_acquire()  # global llm_total full
    steps = steps_of(one)
    permit, full = one.chain(steps).try_acquire()
    assert permit is None and full is steps[2]
    assert held(two) == [0, 0, 1, 0]  # seen by the other worker: nothing of the chain held
    blocker.release()
    permit, full = one.chain(steps).try_acquire()
    assert full is None and held(two) == [1, 1, 1, 1]
    permit.release()
    assert held(two) == [0, 0, 0, 0]
    permit.release()  # a second release must not hand its descriptions out twice:
    first, _ = one.chain(steps).try_acquire()
    second, full = one.chain(steps).try_acquire()  # through a shared one, it would pass
    assert second is None and full is steps[2]
    first.release()


def test_chains_of_one_worker_take_distinct_slots_up_to_the_capacity(backends):
    one, two = backends
    steps = [Step("tenant", "ocr", one.semaphore("acme", "ocr", 2))]
    first, _ = one.chain(steps).try_acquire()
    second, _ = one.chain(steps).try_acquire()
    third, full = one.chain(steps).try_acquire()
    assert (third, full) == (None, steps[0])
    assert two.inflight("acme", "ocr", 2) == 2
    first.release()
    second.release()
    assert two.inflight("acme", "ocr", 2) == 0


def test_a_step_that_fails_half_way_leaves_nothing_of_the_chain_held(backends, monkeypatch):
    one, two = backends
    steps = steps_of(one)
    real_take = SlotFile.take

    def take(slots, capacity):
        if slots.path.name == "llm_student.slots" and slots.path.parent.name == "_global":
            raise OSError("the slot file went away")
        return real_take(slots, capacity)

    monkeypatch.setattr(SlotFile, "take", take)
    with pytest.raises(OSError):
        one.chain(steps).try_acquire()
    assert held(two) == [0, 0, 0, 0]


def test_a_refusal_names_the_step_that_was_full_and_is_counted(backends):
    check_a_refusal_names_the_full_step(*backends, untouched=(
        ("acme", "llm_total"), ("_global", "llm_student"), ("_global", "llm_total")))


def test_a_tenants_new_limits_are_taken_by_its_next_hold(backends):
    limiter = Limiter(backends[0], Settings(), Counted())
    with limiter.hold("acme", {"llm_student": 1}, "llm_student"):
        with pytest.raises(LimitRefused):
            with limiter.hold("acme", {"llm_student": 1}, "llm_student"):
                pass
        with limiter.hold("acme", {"llm_student": 2}, "llm_student"):
            assert backends[1].inflight("acme", "llm_student", 2) == 2


def test_a_waiting_chain_is_retried_whole_holding_nothing_between_attempts(backends):
    one, two = backends
    blocker = two.semaphore("_global", "llm_total", 1).try_acquire()
    seen = []

    def pause(seconds):  # between attempts: nothing of the chain is held; then admit it
        seen.append(held(two))
        blocker.release()

    with hold_whole(one.chain(steps_of(one)), wait_seconds=30, pause=pause):
        assert held(two) == [1, 1, 1, 1]
    assert seen == [[0, 0, 1, 0]] and held(two) == [0, 0, 0, 0]


def test_a_pooled_description_finds_the_next_free_slot_when_slot_0_is_held(backends):
    one, two = backends
    steps = [Step("tenant", "ocr", one.semaphore("acme", "ocr", 2))]
    warm, _ = one.chain(steps).try_acquire()  # leaves a description in the pool
    warm.release()
    other = two.semaphore("acme", "ocr", 2).try_acquire()  # slot 0, in another worker
    permit, full = one.chain(steps).try_acquire()
    assert full is None and two.inflight("acme", "ocr", 2) == 2
    refused, full = one.chain(steps).try_acquire()
    assert (refused, full) == (None, steps[0])
    permit.release()
    other.release()
    assert two.inflight("acme", "ocr", 2) == 0


def test_a_pooled_description_that_fails_leaves_nothing_of_the_chain_held(backends):
    one, two = backends
    steps = steps_of(one)
    warm, _ = one.chain(steps).try_acquire()  # every step's description pooled
    warm.release()
    broken = steps[3].semaphore.slots
    os.close(broken._free[-1])  # the last step's lock request now fails with EBADF
    with pytest.raises(OSError):
        one.chain(steps).try_acquire()
    assert held(two) == [0, 0, 0, 0]
    broken._free.clear()  # no double close at teardown

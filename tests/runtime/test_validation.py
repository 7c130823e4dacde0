"""ValidatorCall: one call at a time per tenant, and nothing of a finished call kept."""
from __future__ import annotations

import gc
import threading
import time
import weakref

from app.runtime.health import PERMANENT, TRANSIENT, ValidationFailure
from app.runtime.validation import ValidatorCall

DEADLINE = 10.0  # seconds a bounded poll may take on a busy machine


def test_a_finished_call_keeps_nothing_of_its_outcome():
    # Every loaded tenant keeps its ValidatorCall: a finished call's future (and what it
    # holds) would stay with each of them.
    raised = [ValidationFailure("gone for good", PERMANENT)]
    gone = weakref.ref(raised[0])

    def validator(runtime):
        raise raised.pop()

    call = ValidatorCall("acme", validator, timeout=5.0)
    outcome = call.run(object())
    assert (outcome.ok, outcome.kind, outcome.reason) == (False, PERMANENT, "gone for good")
    gc.collect()
    assert gone() is None


def test_a_call_still_running_refuses_the_next_until_it_returns():
    release = threading.Event()
    call = ValidatorCall("acme", lambda runtime: release.wait(DEADLINE), timeout=0.05)
    first = call.run(object())
    assert (first.kind, first.timed_out) == (TRANSIENT, True)
    second = call.run(object())
    assert second.timed_out
    assert second.reason == "previous validator call has not returned"
    release.set()
    deadline = time.monotonic() + DEADLINE
    while True:  # the abandoned call returns on its own thread
        outcome = call.run(object())
        if outcome.ok or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert outcome.ok

"""Single flight on the asker's own thread (InlineRunner), as tenant readiness runs it
without chaos: one call per key, and a cap on the asks that wait for a slow one."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from app.deadlines import InlineRunner
from app.tenant_readiness.single_flight import SingleFlight
from tests.support.polling import wait_until

LONG = 60.0  # no ask here gives up on its own while the test runs
MAX_ASKERS = 3


class Blocking:
    """Work that blocks until released, counting the calls that started."""

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def __call__(self):
        self.calls += 1
        assert self.release.wait(LONG)
        return "answer", True


def flight(slow_after: float = 0.0) -> SingleFlight:
    return SingleFlight(InlineRunner(), LONG, failed=lambda key: "failed",
                        timed_out=lambda key: "timed out", on_end=lambda key, result: None,
                        max_askers=MAX_ASKERS, slow_after=slow_after)


def waiting(flights: SingleFlight, key: str) -> int:
    call = flights._calls.get(key)
    return call.askers if call is not None else 0


def test_asks_past_the_cap_of_a_slow_call_are_answered_at_once():
    flights, work = flight(), Blocking()
    with ThreadPoolExecutor(MAX_ASKERS) as pool:
        asks = [pool.submit(flights.ask, "stuck", work) for _ in range(MAX_ASKERS)]
        assert wait_until(lambda: waiting(flights, "stuck") == MAX_ASKERS)
        # The call is still blocked: this ask did not wait for it.
        assert flights.ask("stuck", work) is None
        assert not work.release.is_set()
        # Another key is not held back by it.
        other = Blocking()
        other.release.set()
        assert flights.ask("other", other) == ("answer", True)
        work.release.set()
        answers = [a.result(LONG) for a in asks]
    assert answers == [("answer", True)] * MAX_ASKERS


def test_a_call_that_is_not_slow_yet_is_waited_for_by_every_ask():
    flights, work = flight(slow_after=LONG), Blocking()
    askers = MAX_ASKERS + 2
    with ThreadPoolExecutor(askers) as pool:
        asks = [pool.submit(flights.ask, "busy", work) for _ in range(askers)]
        assert wait_until(lambda: waiting(flights, "busy") == askers)
        work.release.set()
        answers = [a.result(LONG) for a in asks]
    assert answers == [("answer", True)] * askers

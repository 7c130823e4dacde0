"""DeadlineRunner: calls that hang hold only their own threads; everyone else is served."""
from __future__ import annotations

import threading

import pytest

from app.deadlines import DeadlineExceeded, DeadlineRunner
from tests.support.polling import wait_until

WAIT = 10.0


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()


def test_hung_calls_never_make_another_call_wait(release):
    runner = DeadlineRunner("test", max_threads=64, keep_threads=2)
    hung = 20  # far more than the threads kept
    for _ in range(hung):
        with pytest.raises(DeadlineExceeded):
            runner.run(lambda: release.wait(WAIT), timeout=0.01)
    # Every hung call holds a thread of its own; the next call gets a fresh one at once.
    assert runner.run(lambda: "answer", timeout=WAIT) == "answer"
    assert runner.threads == hung + 1
    runner.close()


def test_threads_are_reused_when_calls_return():
    runner = DeadlineRunner("test", max_threads=8)
    for i in range(50):
        assert runner.run(lambda: i, timeout=WAIT) == i
    assert runner.threads == 1
    runner.close()


def test_past_the_last_bound_a_call_is_refused_at_once(release):
    runner = DeadlineRunner("test", max_threads=3)
    for _ in range(3):
        with pytest.raises(DeadlineExceeded):
            runner.run(lambda: release.wait(WAIT), timeout=0.01)
    with pytest.raises(DeadlineExceeded, match="all 3 test threads are busy"):
        runner.run(lambda: "never", timeout=WAIT)
    release.set()
    assert wait_until(lambda: _answers(runner))
    runner.close()


def _answers(runner: DeadlineRunner) -> bool:
    try:
        return runner.run(lambda: True, timeout=1)
    except DeadlineExceeded:
        return False


def test_an_exception_reaches_the_caller():
    runner = DeadlineRunner("test", max_threads=2)
    with pytest.raises(ZeroDivisionError):
        runner.run(lambda: 1 / 0, timeout=WAIT)
    assert runner.run(lambda: "still serving", timeout=WAIT) == "still serving"
    runner.close()


def test_idle_threads_exit_down_to_those_kept(release):
    runner = DeadlineRunner("test", max_threads=16, keep_threads=1, idle_seconds=0.05)
    for _ in range(5):
        with pytest.raises(DeadlineExceeded):
            runner.run(lambda: release.wait(WAIT), timeout=0.01)
    assert runner.threads == 5
    release.set()
    assert wait_until(lambda: runner.threads == 1)
    runner.close()


def test_close_stops_every_idle_thread():
    runner = DeadlineRunner("test-close", max_threads=4, keep_threads=4)
    for _ in range(3):
        runner.run(lambda: None, timeout=WAIT)
    runner.close()
    assert wait_until(lambda: not [t for t in threading.enumerate()
                                   if t.name.startswith("test-close-")])
    assert runner.threads == 0

"""The garbage collector is paused while scrapes render, and runs again after the last."""
from __future__ import annotations

import gc
import threading

import pytest

from app.metrics.gc_pause import collector_paused


@pytest.fixture(autouse=True)
def collector_running():
    assert gc.isenabled()
    yield
    gc.enable()


def test_the_collector_runs_again_after_a_scrape(client):
    assert client.get("/metrics").status_code == 200
    assert gc.isenabled()


def test_overlapping_scrapes_resume_it_when_the_last_one_ends():
    first_inside, second_done, seen = threading.Event(), threading.Event(), []

    def first():
        with collector_paused():
            first_inside.set()
            second_done.wait(30)
            seen.append(gc.isenabled())  # the other scrape ended, this one goes on

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inside.wait(30)
    with collector_paused():
        assert not gc.isenabled()
    second_done.set()
    thread.join(30)
    assert seen == [False]
    assert gc.isenabled()


def test_a_failing_scrape_resumes_it_and_a_stopped_collector_stays_stopped():
    with pytest.raises(RuntimeError):
        with collector_paused():
            raise RuntimeError("a collector failed")
    assert gc.isenabled()
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()

"""The master's metrics-folder thread, fed by child_exit: the master never waits for scrapes."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest

from app import gunicorn_hooks
from app.metrics.fold_queue import DeadWorkerFolder
from tests.metrics.fake_workers import HEALTH_REQUESTS, foldable_files, scrape, worker_files

ROOT = Path(__file__).resolve().parents[2]

WAIT = 30.0  # bound on every wait for another thread; never reached when green
# child_exit puts a pid on a queue: microseconds, no file touched. It may still wait for
# the GIL (the folder thread runs Python code in the same process; the switch interval
# is 5 ms), hence a generous bound. What it excludes is waiting for a scrape (one takes
# longer than that here) or for a fold (the old lock waited up to 2 s per death).
CHILD_EXIT_BOUND = 0.050
SCHEDSTAT = Path("/proc/thread-self/schedstat")


def queued_for_cpu() -> float:
    """Seconds this thread was runnable but waiting for a CPU (Linux schedstat), or 0.

    Subtracted from a measured call: on a busy machine the kernel may keep the thread
    off the CPU for tens of milliseconds, which says nothing about what the call waits
    for. Blocked time (a lock, a sleep, the GIL, I/O) still counts.
    """
    if not SCHEDSTAT.exists():
        return 0.0
    return int(SCHEDSTAT.read_text().split()[1]) / 1e9


def poll(condition, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)  # pause inside a loop bounded by its deadline
    return condition()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A stand-in for the gunicorn arbiter, and the master's folder thread for tmp_path."""
    monkeypatch.setattr(gunicorn_hooks, "_folder", None)
    arbiter = SimpleNamespace(WORKERS={}, log=SimpleNamespace(warning=print, info=print))
    folder = gunicorn_hooks.metrics_folder(arbiter, str(tmp_path))
    yield arbiter
    gunicorn_hooks.stop_metrics_folder(arbiter)
    assert not folder.is_alive()


@contextmanager
def scrapes_in_another_process(directory, threads: int = 2) -> Iterator[dict]:
    """Scrapes back to back, as worker processes serve /metrics; yields their final report."""
    command = [sys.executable, "-m", "tests.metrics.scraper_process", str(directory),
               str(threads)]
    report: dict = {}
    with subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as process:
        try:
            assert process.stdout.readline() == "scraping\n"
            yield report
            out, _ = process.communicate(timeout=WAIT)  # closes stdin: scrapes stop
            report.update(json.loads(out))
        finally:
            process.kill()


def test_a_burst_of_20_worker_deaths_while_scrapes_run_never_holds_child_exit(
        tmp_path, make_worker, server, capsys):
    keeper = make_worker(99)
    keeper.serve(1)
    workers = [make_worker(pid) for pid in range(800, 820)]
    for worker in workers:
        worker.serve(3)
    timings, wall = [], []
    with scrapes_in_another_process(tmp_path) as scrapes:
        for worker in workers:
            worker.close()  # the worker process is gone; the master reaps it
            started, queued = time.perf_counter(), queued_for_cpu()
            gunicorn_hooks.child_exit(server, SimpleNamespace(pid=worker.pid), str(tmp_path))
            wall.append(time.perf_counter() - started)
            timings.append(wall[-1] - (queued_for_cpu() - queued))
        # Folded while the scrapes still run back to back: they cannot starve the folder.
        assert poll(lambda: not any(foldable_files(tmp_path, w.pid) for w in workers))
    with capsys.disabled():
        print(f"\nchild_exit over a burst of 20 deaths, not counting waits for a CPU: "
              f"max {max(timings) * 1000:.2f} ms, median {statistics.median(timings) * 1000:.2f}"
              f" ms (wall: max {max(wall) * 1000:.2f} ms, median "
              f"{statistics.median(wall) * 1000:.2f} ms); {scrapes['scrapes']} scrapes meanwhile")

    assert scrapes["problems"] == []
    assert scrapes["scrapes"] > 2
    assert max(timings) < CHILD_EXIT_BOUND, timings
    assert scrape(tmp_path)[HEALTH_REQUESTS] == 1 + 20 * 3
    assert all(worker_files(tmp_path, w.pid) == [f"gauge_all_{w.pid}.db"] for w in workers)


def test_a_pid_that_names_a_live_worker_again_is_not_folded(tmp_path, make_worker, server):
    reused, dead = make_worker(901), make_worker(902)
    for worker in (reused, dead):
        worker.serve(2)
        worker.close()
    server.WORKERS[901] = object()  # pid 901 was reaped, then given to a new worker
    worker_files_before = worker_files(tmp_path, 901)  # the new worker's now, live gauge too

    gunicorn_hooks.child_exit(server, SimpleNamespace(pid=901), str(tmp_path))
    gunicorn_hooks.child_exit(server, SimpleNamespace(pid=902), str(tmp_path))

    # Pids are handled in the order they came: once 902 is folded, 901 was considered.
    assert poll(lambda: foldable_files(tmp_path, 902) == [])
    assert worker_files(tmp_path, 901) == worker_files_before
    assert scrape(tmp_path)[HEALTH_REQUESTS] == 4


def test_live_gauges_are_dropped_at_once_and_the_rest_folded_after_gathering(tmp_path,
                                                                             make_worker):
    worker = make_worker(950)
    worker.serve(2)
    worker.close()
    folder = DeadWorkerFolder(str(tmp_path), gather=10 * WAIT)  # no fold within this test
    folder.start()
    try:
        folder.submit(950)
        assert poll(lambda: "gauge_livemostrecent_950.db" not in worker_files(tmp_path, 950))
        assert "counter_950.db" in worker_files(tmp_path, 950)  # gathered, not folded yet
    finally:
        assert folder.stop(timeout=WAIT)
    assert ("ready", frozenset()) not in scrape(tmp_path)  # a dead worker's live gauge
    assert scrape(tmp_path)[HEALTH_REQUESTS] == 2


def test_deaths_queued_while_a_fold_runs_are_folded_in_one_section(tmp_path):
    sections, release = [], threading.Event()

    def fold(directory, pids):
        sections.append(list(pids))
        assert release.wait(WAIT)
        return set(pids)

    folder = DeadWorkerFolder(str(tmp_path), fold=fold, gather=0.0)
    folder.start()
    try:
        folder.submit(1)
        assert poll(lambda: sections == [[1]])
        for pid in (2, 3, 2):  # 2 reported twice: folded once
            folder.submit(pid)
        release.set()
        assert poll(lambda: len(sections) == 2)
    finally:
        release.set()
        assert folder.stop(timeout=WAIT)
    assert sections == [[1], [2, 3]]


def test_stopping_while_deaths_are_gathered_ends_the_thread_at_once(tmp_path):
    sections = []
    # Gathering lasts longer than the wait bound: stop() is in time only if it cuts it short.
    folder = DeadWorkerFolder(str(tmp_path), fold=lambda d, pids: sections.append(list(pids)),
                              gather=10 * WAIT)
    folder.start()
    folder.submit(1)

    assert folder.stop(timeout=WAIT)
    # What is still queued stays unfolded: its files are still summed by every scrape.
    assert sections == []

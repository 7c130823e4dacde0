"""Folding dead workers' multiprocess files: /metrics renders the same values, fewer files."""
from __future__ import annotations

import glob
import os
import threading
from dataclasses import replace
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.multiprocess import mark_process_dead

from app import gunicorn_hooks
from app.metrics.exposition import build_scrape_registry
from app.metrics.multiprocess_folding import fold_dead_worker, scrape_lock
from app.services import services_of
from tests.support.metrics_text import samples

BUCKETS = (0.25, 1.0, 4.0)
ROUTES = ("/t/<tenant>/health", "/readyz")


class FakeWorker:
    """One gunicorn worker's metrics, written to real multiprocess files under ``pid``."""

    def __init__(self, monkeypatch, directory, pid: int):
        self.pid = pid
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
        monkeypatch.setattr(prometheus_values, "ValueClass",
                            prometheus_values.MultiProcessValue(lambda: pid))
        # The class registers how to close its files; a dead worker's files get closed.
        self._close = prometheus_values._multi_process_cleanups[-1]
        registry = CollectorRegistry()
        self.requests = Counter("requests", "Requests", ["route"], registry=registry)
        self.latency = Histogram("latency_seconds", "Latency", ["route"], buckets=BUCKETS,
                                 registry=registry)
        self.info = Gauge("info", "Build info", ["version"], registry=registry,
                          multiprocess_mode="max")
        self.last_seen = Gauge("last_seen", "Last", registry=registry,
                               multiprocess_mode="mostrecent")
        self.ready = Gauge("ready", "Ready", registry=registry,
                           multiprocess_mode="livemostrecent")
        self.per_pid = Gauge("per_pid", "One series per process", registry=registry,
                             multiprocess_mode="all")
        # Children are bound to this worker's files when created, so create them now
        # (another FakeWorker replaces the value class afterwards); this creates every file.
        self.routes = {route: (self.requests.labels(route=route),
                               self.latency.labels(route=route)) for route in ROUTES}
        self.info.labels(version="1.0").set(1)

    def serve(self, n: int, route: str = ROUTES[0]) -> None:
        # Dyadic values: float sums are exact in any order, so "identical" can be exact.
        requests, latency = self.routes[route]
        for i in range(n):
            requests.inc()
            latency.observe((0.125, 0.5, 2.0, 8.0)[i % 4])
        self.last_seen.set(float(self.pid))
        self.ready.set(1)
        self.per_pid.set(self.pid)

    def close(self) -> None:
        self._close()  # idempotent

    def die(self, directory) -> None:
        self.close()
        mark_process_dead(self.pid, str(directory))  # what child_exit did before folding


@pytest.fixture
def make_worker(tmp_path, monkeypatch):
    """FakeWorker factory; every worker's files are closed at teardown."""
    made: list[FakeWorker] = []

    def make(pid: int, directory=tmp_path) -> FakeWorker:
        made.append(FakeWorker(monkeypatch, directory, pid))
        return made[-1]

    yield make
    for worker in made:
        worker.close()


def scrape(directory) -> dict:
    registry = build_scrape_registry(CollectorRegistry(), str(directory), [])
    return samples(generate_latest(registry).decode())


def worker_files(directory, pid: int) -> list[str]:
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, f"*_{pid}.db")))


def monotonic_samples(found: dict) -> dict:
    """Counter and histogram samples: the ones that must never go backwards."""
    return {key: value for key, value in found.items()
            if key[0].startswith(("requests_", "latency_seconds_"))}


def test_folding_a_dead_worker_leaves_every_value_on_metrics_unchanged(tmp_path, make_worker):
    dead, alive = make_worker(101), make_worker(102)
    dead.serve(7)
    alive.serve(5)
    alive.serve(2, route="/readyz")
    dead.die(tmp_path)
    before = scrape(tmp_path)

    assert fold_dead_worker(str(tmp_path), 101)

    assert scrape(tmp_path) == before
    assert before[("requests_total", frozenset({("route", "/t/<tenant>/health")}))] == 12
    # Counters, histograms, max and mostrecent gauges folded; the "all" gauge keeps its pid.
    assert worker_files(tmp_path, 101) == ["gauge_all_101.db"]
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "*_archive.db"))) == [
        "counter_archive.db", "gauge_max_archive.db", "gauge_mostrecent_archive.db",
        "histogram_archive.db"]


def test_many_recycled_workers_fold_into_one_archive_per_kind(tmp_path, make_worker):
    before = None
    for pid in range(200, 230):
        worker = make_worker(pid)
        worker.serve(pid % 5 + 1)
        worker.die(tmp_path)
        before = scrape(tmp_path)
        assert fold_dead_worker(str(tmp_path), pid)
        assert scrape(tmp_path) == before
    counters = [p for p in os.listdir(tmp_path) if p.startswith("counter_")]
    assert counters == ["counter_archive.db"]
    expected = sum(pid % 5 + 1 for pid in range(200, 230))
    assert before[("requests_total", frozenset({("route", "/t/<tenant>/health")}))] == expected
    assert before[("last_seen", frozenset())] == 229  # the most recent write wins


def test_counters_never_go_backwards_while_dead_workers_are_folded(tmp_path, make_worker):
    keeper = make_worker(99)
    keeper.serve(1)
    # Created (with their files) before scraping starts: a scrape racing prometheus_client
    # creating a new file is not what this test is about.
    workers = [make_worker(pid) for pid in range(300, 340)]
    stop, seen, problems = threading.Event(), [], []

    def scraper():
        previous: dict = {}
        for _ in range(2000):  # bounded; stopped earlier by the main thread
            if stop.is_set():
                return
            try:
                current = monotonic_samples(scrape(tmp_path))
            except Exception as exc:  # any scrape failure is a finding of this test
                problems.append(repr(exc))
                return
            went_back = {k: (previous[k], v) for k, v in current.items()
                         if k in previous and v < previous[k]}
            if went_back:
                problems.append(went_back)
            previous = current
            seen.append(1)

    thread = threading.Thread(target=scraper)
    thread.start()
    try:
        for worker in workers:
            worker.serve(3)
            worker.die(tmp_path)
            assert fold_dead_worker(str(tmp_path), worker.pid)
    finally:
        stop.set()
        thread.join(30)
    assert not problems
    assert seen
    total = scrape(tmp_path)[("requests_total", frozenset({("route", "/t/<tenant>/health")}))]
    assert total == 1 + 40 * 3


def test_a_fold_waits_for_a_running_scrape_then_gives_up_touching_nothing(tmp_path,
                                                                          make_worker):
    worker = make_worker(401)
    worker.serve(2)
    worker.die(tmp_path)
    with scrape_lock(str(tmp_path)):
        assert not fold_dead_worker(str(tmp_path), 401, wait_seconds=0.05)
    assert "counter_401.db" in worker_files(tmp_path, 401)
    assert fold_dead_worker(str(tmp_path), 401)
    assert "counter_401.db" not in worker_files(tmp_path, 401)


def test_child_exit_folds_and_retries_what_it_could_not_fold(tmp_path, make_worker,
                                                             monkeypatch):
    log = SimpleNamespace(warnings=[])
    server = SimpleNamespace(log=SimpleNamespace(warning=lambda *a: log.warnings.append(a)))
    first, second = make_worker(501), make_worker(502)
    for worker in (first, second):
        worker.serve(4)
        worker.close()
    before = scrape(tmp_path)
    monkeypatch.setattr(gunicorn_hooks, "_unfolded", set())
    monkeypatch.setattr(gunicorn_hooks, "fold_dead_worker",
                        lambda directory, pid: fold_dead_worker(directory, pid, 0.05))

    with scrape_lock(str(tmp_path)):
        gunicorn_hooks.child_exit(server, SimpleNamespace(pid=501), str(tmp_path))
    assert log.warnings and "counter_501.db" in worker_files(tmp_path, 501)
    assert "gauge_livemostrecent_501.db" not in worker_files(tmp_path, 501)  # marked dead

    gunicorn_hooks.child_exit(server, SimpleNamespace(pid=502), str(tmp_path))
    assert worker_files(tmp_path, 501) == ["gauge_all_501.db"]
    assert worker_files(tmp_path, 502) == ["gauge_all_502.db"]
    assert gunicorn_hooks._unfolded == set()
    live_gauges = {("ready", frozenset())}
    assert {k: v for k, v in scrape(tmp_path).items() if k not in live_gauges} == \
        {k: v for k, v in before.items() if k not in live_gauges}


def test_metrics_view_reads_the_archives(app, tmp_path, make_worker):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    # As under gunicorn: the view reads the multiprocess directory, not the app's registry.
    settings = services_of(app).settings
    services_of(app).settings = replace(settings, multiproc_dir=str(directory))
    worker = make_worker(601, directory)
    worker.serve(6)
    worker.die(directory)
    assert fold_dead_worker(str(directory), 601)

    response = app.test_client().get("/metrics")

    assert response.status_code == 200
    found = samples(response.get_data(as_text=True))
    assert found[("requests_total", frozenset({("route", "/t/<tenant>/health")}))] == 6
    assert found[("latency_seconds_count", frozenset({("route", "/t/<tenant>/health")}))] == 6

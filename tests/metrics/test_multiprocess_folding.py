"""Folding dead workers' multiprocess files: /metrics renders the same values, fewer files."""
from __future__ import annotations

import glob
import os
import threading
from dataclasses import replace

import pytest

from app.metrics import fold_seqlock
from app.metrics.multiprocess_folding import fold_dead_worker, reset_directory
from tests.metrics.fake_workers import HEALTH_REQUESTS, monotonic_samples, scrape, worker_files
from app.services import services_of
from tests.support.metrics_text import samples


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


def test_metrics_view_reads_the_archives(app, tmp_path, make_worker, monkeypatch):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    # As under gunicorn: the view reads the multiprocess directory, not the app's registry.
    found = services_of(app)
    monkeypatch.setitem(app.extensions, "tenantgate", replace(
        found, settings=replace(found.settings, multiproc_dir=str(directory))))
    worker = make_worker(601, directory)
    worker.serve(6)
    worker.die(directory)
    assert fold_dead_worker(str(directory), 601)

    response = app.test_client().get("/metrics")

    assert response.status_code == 200
    found = samples(response.get_data(as_text=True))
    assert found[("requests_total", frozenset({("route", "/t/<tenant>/health")}))] == 6
    assert found[("latency_seconds_count", frozenset({("route", "/t/<tenant>/health")}))] == 6


def test_a_new_start_empties_what_a_master_killed_mid_fold_left(tmp_path, make_worker):
    worker = make_worker(701)
    worker.serve(2)
    worker.die(tmp_path)
    worker_file = tmp_path / "counter_701.db"
    leftovers = [tmp_path / ".counter_702.folding", tmp_path / ".counter_archive.tmp",
                 tmp_path / ".fold.seq"]
    for path in leftovers:
        path.write_bytes(b"x")  # one byte: an odd fold sequence, as if stuck mid-fold

    reset_directory(str(tmp_path))

    assert not [p for p in leftovers + [worker_file] if p.exists()]
    assert scrape(tmp_path) == {}


def test_a_file_its_worker_never_sized_is_folded_away(tmp_path, make_worker, monkeypatch):
    worker = make_worker(801)
    worker.serve(3)
    worker.die(tmp_path)
    # Killed between prometheus_client's open (which creates the file) and its truncate.
    (tmp_path / "gauge_sum_801.db").touch()
    monkeypatch.setattr(fold_seqlock, "STUCK_SECONDS", 0.2)  # quick; the answer matters
    with pytest.raises(fold_seqlock.MetricsUnsettled):
        scrape(tmp_path)

    assert fold_dead_worker(str(tmp_path), 801)

    assert worker_files(tmp_path, 801) == ["gauge_all_801.db"]
    assert scrape(tmp_path)[HEALTH_REQUESTS] == 3

"""Folding under a real gunicorn: workers recycled while /metrics is scraped back to back."""
from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.metrics_text import total
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

WAIT = 60.0  # bound on every wait; never reached when green
RECYCLES = 8
# Small enough that the load and the scrapes recycle a worker every second or so.
MAX_REQUESTS = 15
# Scrapes overlapping one another all the time, as several Prometheus servers and
# dashboards querying at once would.
SCRAPERS = 3
ARCHIVE_SUFFIX = "_archive.db"


def poll(condition, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)  # pause inside a loop bounded by its deadline
    return condition()


def monotonic_samples(text: str) -> dict:
    """Every counter, histogram and summary sample: none may ever go backwards."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            if family.type in ("counter", "histogram", "summary")
            for sample in family.samples}


class Hammer(threading.Thread):
    """GETs one path back to back on fresh connections until stopped (or WAIT passes)."""

    def __init__(self, server, path: str, check=None):
        super().__init__()
        self.server, self.path, self.check = server, path, check
        self.stopped = threading.Event()
        self.ok = self.dropped = 0
        self.problems: list = []

    def run(self) -> None:
        deadline = time.monotonic() + WAIT
        while not self.stopped.is_set() and time.monotonic() < deadline:
            try:
                response = self.server.get(self.path)
            except (requests.ConnectionError, requests.Timeout):
                # A recycled worker closing a connection it had accepted, or no worker
                # booted in time to answer: maybe counted, maybe not (a request that
                # timed out may still be served). Counted here to bound the final total.
                self.dropped += 1
                continue
            if response.status_code != 200:
                self.problems.append((response.status_code, response.text[:300]))
                continue
            self.ok += 1
            if self.check:
                self.check(response.text)

    def __enter__(self) -> "Hammer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.join(WAIT)


class MonotonicCheck:
    def __init__(self):
        self.previous: dict = {}
        self.went_back: list = []

    def __call__(self, text: str) -> None:
        current = monotonic_samples(text)
        back = {k: (self.previous[k], v) for k, v in current.items()
                if k in self.previous and v < self.previous[k]}
        if back:
            self.went_back.append(back)
        self.previous = current


def db_files(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".db"))


def dead_workers_files(directory, live: set[int]) -> list[str]:
    """Files that belong neither to an archive nor to a live worker."""
    return [name for name in db_files(directory)
            if not name.endswith(ARCHIVE_SUFFIX) and int(name[:-3].rsplit("_", 1)[1]) not in live]


def test_recycled_workers_are_folded_while_metrics_is_scraped_back_to_back(tmp_path):
    env = {"GUNICORN_CMD_ARGS": f"--max-requests {MAX_REQUESTS} --max-requests-jitter 0"}
    with running_server(tmp_path, workers=2, threads=4, env=env) as server:
        directory = tmp_path / f"metrics-{server.port}"
        seen = set(server.worker_pids())

        def recycled() -> bool:
            seen.update(server.worker_pids())
            return len(seen) >= 2 + RECYCLES

        scrapers = [Hammer(server, "/metrics", MonotonicCheck()) for _ in range(SCRAPERS)]
        with Hammer(server, "/readyz") as load, ExitStack() as stack:
            for scraper in scrapers:
                stack.enter_context(scraper)
            assert poll(recycled), seen
        text = server.get("/metrics").text  # every /readyz answered by now is counted
        # No more requests: recycling stops (the scrape above may still end one worker).
        live: set[int] = set()

        def folded() -> bool:
            live.clear()
            live.update(server.worker_pids())
            return len(live) == 2 and not dead_workers_files(directory, live)

        assert poll(folded), (db_files(directory), live)
        files = db_files(directory)
        log = server.log()

    assert load.problems == []
    assert [(s.problems, s.check.went_back) for s in scrapers] == [([], [])] * SCRAPERS
    assert min(s.ok for s in scrapers) >= RECYCLES
    # Every /readyz that got an answer is counted once (none twice, none lost).
    counted = total(text, "flask_http_request_duration_seconds_count", route="/readyz",
                    status="200")
    assert load.ok <= counted <= load.ok + load.dropped, (load.ok, load.dropped, counted)
    # Bounded: one file per kind for each live worker, plus one archive per kind.
    kinds = {name.rsplit("_", 1)[0] for name in files}
    assert len(files) <= (len(live) + 1) * len(kinds), files
    assert "could not fold" not in log

"""Fake gunicorn workers writing real multiprocess files, and scraping them as /metrics does."""
from __future__ import annotations

import glob
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.multiprocess import mark_process_dead

from app.metrics.exposition import build_scrape_registry
from tests.support.metrics_text import samples

BUCKETS = (0.25, 1.0, 4.0)
ROUTES = ("/t/<tenant>/health", "/readyz")
HEALTH_REQUESTS = ("requests_total", frozenset({("route", ROUTES[0])}))


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
        mark_process_dead(self.pid, str(directory))  # what child_exit does before folding


def scrape(directory) -> dict:
    registry = build_scrape_registry(CollectorRegistry(), str(directory), [])
    return samples(generate_latest(registry).decode())


def worker_files(directory, pid: int) -> list[str]:
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, f"*_{pid}.db")))


def foldable_files(directory, pid: int) -> list[str]:
    """The files of ``pid`` that folding takes away (all but the per-pid "all" gauge)."""
    return [name for name in worker_files(directory, pid) if not name.startswith("gauge_all_")]


def monotonic_samples(found: dict) -> dict:
    """Counter and histogram samples: the ones that must never go backwards."""
    return {key: value for key, value in found.items()
            if key[0].startswith(("requests_", "latency_seconds_"))}

"""Scrape a multiprocess directory back to back from threads of another process.

As /metrics does under gunicorn: scrapes run in worker processes, never in the master
that folds (so they never hold its GIL). Run as
``python -m tests.metrics.scraper_process DIR THREADS``: prints "scraping" once every
thread has scraped (or failed), scrapes until stdin is closed, then prints one JSON
line with the number of scrapes and every problem (a failure, a counter that went
backwards).
"""
from __future__ import annotations

import json
import sys
import threading

from tests.metrics.fake_workers import monotonic_samples, scrape

WAIT = 30.0  # bound on waiting for the threads' first scrapes


class Scraper(threading.Thread):
    def __init__(self, directory: str, stop: threading.Event, started: threading.Semaphore):
        super().__init__()
        self.directory, self.stop, self.started = directory, stop, started
        self.scrapes = 0
        self.problems: list = []

    def run(self) -> None:
        previous: dict = {}
        try:
            while not self.stop.is_set():
                current = monotonic_samples(scrape(self.directory))
                went_back = [[repr(k), previous[k], v] for k, v in current.items()
                             if k in previous and v < previous[k]]
                if went_back:
                    self.problems.append(went_back)
                previous = current
                self.scrapes += 1
                if self.scrapes == 1:
                    self.started.release()
        except Exception as exc:  # any scrape failure is a finding of the test
            self.problems.append(repr(exc))
            if self.scrapes == 0:
                self.started.release()


def main(directory: str, count: int) -> None:
    stop, started = threading.Event(), threading.Semaphore(0)
    scrapers = [Scraper(directory, stop, started) for _ in range(count)]
    for scraper in scrapers:
        scraper.start()
    for _ in scrapers:
        started.acquire(timeout=WAIT)
    print("scraping", flush=True)
    sys.stdin.read()  # until the test closes it
    stop.set()
    for scraper in scrapers:
        scraper.join(WAIT)
    print(json.dumps({"scrapes": sum(s.scrapes for s in scrapers),
                      "problems": [p for s in scrapers for p in s.problems]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))

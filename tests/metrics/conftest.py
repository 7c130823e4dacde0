"""Fake workers for the folding tests: real multiprocess files in a private directory."""
from __future__ import annotations

import pytest

from tests.metrics.fake_workers import FakeWorker


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

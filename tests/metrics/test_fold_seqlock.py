"""The fold sequence lock: scrapes that race a fold read again; folds never wait for scrapes."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import replace

import pytest
from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

from app.errors import api_error_for
from app.metrics import fold_seqlock
from app.services import services_of
from app.metrics.multiprocess_folding import fold_dead_worker, reset_directory
from tests.metrics.fake_workers import HEALTH_REQUESTS, foldable_files, scrape
from tests.support.metrics_text import samples

WAIT = 30.0  # bound on every wait for another thread or process; never reached when green


class ReadHook:
    """Stops a scrape inside its read of one file until the test lets it go on.

    ``when="before"``: the scrape has listed the file but not opened it yet (the fold
    then moves it away). ``when="after"``: the scrape has read it but not the archive
    yet (the fold then puts the same values in the archive).
    """

    def __init__(self, monkeypatch, filename: str, when: str):
        self.filename, self.when = filename, when
        self.reading, self.go_on = threading.Event(), threading.Event()
        self.reads: Counter = Counter()  # file name -> times a scrape read it
        hook = self
        original = MmapedDict.read_all_values_from_file

        class HookedMmapedDict(MmapedDict):
            @staticmethod
            def read_all_values_from_file(filename):
                name = os.path.basename(filename)
                hook.reads[name] += 1
                first = name == hook.filename and hook.reads[name] == 1
                if first and hook.when == "before":
                    hook.pause()
                values = list(original(filename))
                if first and hook.when == "after":
                    hook.pause()
                return values

        # Only the collector's module sees the hook; folding reads files unhooked.
        monkeypatch.setattr(multiprocess, "MmapedDict", HookedMmapedDict)

    def pause(self) -> None:
        self.reading.set()
        assert self.go_on.wait(WAIT)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_scrape_racing_a_fold_reads_again_and_renders_exact_values(
        tmp_path, make_worker, monkeypatch, when):
    keeper, dead = make_worker(11), make_worker(12)
    keeper.serve(5)
    dead.serve(7)
    dead.die(tmp_path)
    expected = scrape(tmp_path)
    assert expected[HEALTH_REQUESTS] == 12
    hook = ReadHook(monkeypatch, "counter_12.db", when)
    attempts = []
    collect_once = fold_seqlock.StableMultiProcessCollector._collect_once
    monkeypatch.setattr(fold_seqlock.StableMultiProcessCollector, "_collect_once",
                        lambda self: attempts.append(1) or collect_once(self))
    result: dict = {}
    scraper = threading.Thread(target=lambda: result.update(found=scrape(tmp_path)))
    scraper.start()
    try:
        assert hook.reading.wait(WAIT)
        # The scrape is inside its read, and the fold does not wait for it.
        assert fold_dead_worker(str(tmp_path), 12)
        assert scraper.is_alive()
    finally:
        hook.go_on.set()
        scraper.join(WAIT)

    assert foldable_files(tmp_path, 12) == []
    assert result["found"] == expected
    # One read overlapped the fold (the file vanished, or the sequence moved), one did not.
    assert len(attempts) == 2
    assert fold_seqlock.read_sequence(str(tmp_path)) == 2


def test_a_scrape_that_cannot_get_a_stable_read_answers_503_not_numbers(
        app, tmp_path, make_worker, monkeypatch):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    found = services_of(app)
    monkeypatch.setitem(app.extensions, "tenantgate", replace(
        found, settings=replace(found.settings, multiproc_dir=str(directory))))
    worker = make_worker(21, directory)
    worker.serve(3)
    worker.die(directory)
    # A master killed in the middle of a fold: its write section never ends.
    with subprocess.Popen(
            [sys.executable, "-c",
             "import sys\nfrom app.metrics.fold_seqlock import write_section\n"
             f"with write_section({str(directory)!r}):\n"
             "    print('folding', flush=True)\n    sys.stdin.read()\n"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as master:
        try:
            assert master.stdout.readline() == "folding\n"
        finally:
            master.kill()
            master.wait(WAIT)
    # Short patience keeps the test quick; what is asserted is the answer, not the time.
    monkeypatch.setattr(fold_seqlock, "STUCK_SECONDS", 0.2)

    response = app.test_client().get("/metrics")

    assert response.status_code == 503
    assert response.get_json()["error"] == "metrics_unavailable"
    assert "requests_total" not in response.get_data(as_text=True)
    # The next start empties the directory, sequence included: scrapes answer again.
    reset_directory(str(directory))
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert "requests_total" not in samples(response.get_data(as_text=True))


def test_a_read_while_a_fold_runs_waits_for_its_end_and_never_reads_meanwhile(
        tmp_path, make_worker):
    worker = make_worker(31)
    worker.serve(4)
    worker.die(tmp_path)
    directory = str(tmp_path)
    in_section, leave = threading.Event(), threading.Event()

    def fold():
        with fold_seqlock.write_section(directory):
            in_section.set()
            assert leave.wait(WAIT)

    folder = threading.Thread(target=fold)
    folder.start()
    assert in_section.wait(WAIT)
    pauses, read_at = [], []

    def pause(seconds):
        pauses.append(seconds)
        if len(pauses) == 3:  # the reader has seen the fold running three times: end it
            leave.set()
            folder.join(WAIT)

    def read():
        read_at.append(fold_seqlock.read_sequence(directory))
        return scrape(directory)  # itself a stable read: the fold is over by now

    try:
        found = fold_seqlock.read_stable(directory, read, stuck_seconds=WAIT, pause=pause)
    finally:
        leave.set()
        folder.join(WAIT)

    assert len(pauses) == 3
    assert read_at == [2]  # read only once the section had ended (sequence 1 -> 2)
    assert found[HEALTH_REQUESTS] == 4


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += 1.0


def test_a_read_gives_up_once_the_sequence_stays_odd_for_its_patience(tmp_path):
    directory, time_, reads = str(tmp_path), FakeTime(), []
    with fold_seqlock.write_section(directory):
        with pytest.raises(fold_seqlock.MetricsUnsettled) as raised:
            fold_seqlock.read_stable(directory, lambda: reads.append(1), stuck_seconds=5.0,
                                     clock=time_.clock, pause=time_.pause)
    assert reads == []  # never read while the sequence was odd
    assert api_error_for(raised.value).status == 503  # how the API answers it
    assert time_.now == 5.0  # paused until the sequence had not moved for 5 s


def test_a_read_keeps_trying_while_folds_make_progress_and_then_renders(tmp_path):
    directory, time_, reads = str(tmp_path), FakeTime(), []

    def read():
        reads.append(time_.now)
        if len(reads) <= 8:  # a fold overlaps each of the first 8 reads: 8 s in all
            with fold_seqlock.write_section(directory):
                pass
        return "values"

    found = fold_seqlock.read_stable(directory, read, stuck_seconds=5.0,
                                     clock=time_.clock, pause=time_.pause)

    assert found == "values"
    assert len(reads) == 9  # past the 5 s of patience, since the sequence kept moving


def test_a_read_gives_up_after_its_limit_even_while_folds_make_progress(tmp_path):
    directory, time_ = str(tmp_path), FakeTime()

    def read():
        with fold_seqlock.write_section(directory):
            pass  # a fold overlaps every read, for ever

    with pytest.raises(fold_seqlock.MetricsUnsettled):
        fold_seqlock.read_stable(directory, read, stuck_seconds=5.0, clock=time_.clock,
                                 pause=time_.pause)
    assert time_.now == fold_seqlock.READ_LIMIT_SECONDS

"""A sequence lock between the master folding metric files and scrapes reading them.

The folder (the only writer) makes the sequence odd before it changes any file and
even again after; a scrape reads the sequence, collects, reads it again and keeps the
result only if both reads were the same even number. Readers take no lock, so a fold
never waits for a scrape (and scrapes, however frequent, cannot starve it); a scrape
that raced a fold reads again.

The sequence is the length of ``.fold.seq`` (a sparse file: no data is ever written).
Setting a length is one atomic ``ftruncate`` that needs no free space and cannot tear,
and a reader gets it with one ``stat``.
"""
from __future__ import annotations

import os
import struct
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from prometheus_client.multiprocess import MultiProcessCollector


SEQUENCE_NAME = ".fold.seq"
# A scrape gives up when the fold sequence has not moved for this long without one stable
# read: the folder is stuck or gone. Folds last milliseconds and are spaced out
# (fold_queue.GATHER_SECONDS), so only a master killed in the middle of a fold (the
# sequence stays odd until the next start empties the directory) gets here. While the
# sequence moves, folds are being done and the scrape waits for them to pause, up to
# READ_LIMIT_SECONDS in all, so that no request thread is held for ever.
STUCK_SECONDS = 5.0
READ_LIMIT_SECONDS = 30.0
# Before reading again (a fold is running, or just ran): pause this long, not spin.
RETRY_PAUSE_SECONDS = 0.002

T = TypeVar("T")

# Writers exclude each other within the master (a seqlock has one writer at a time).
# Never a file lock: a worker forked while it is held would inherit the open file
# description, and with it the lock, for its whole life.
_writer = threading.Lock()


class MetricsUnsettled(Exception):
    """No stable read of the multiprocess files (folding stuck): no numbers at all."""

    def __init__(self, seconds: float, sequence: int):
        self.reason = (f"no consistent read of the metric files within {seconds:.1f}s "
                       f"(fold sequence {sequence})")
        super().__init__(self.reason)


def _path(directory: str) -> str:
    return os.path.join(directory, SEQUENCE_NAME)


def read_sequence(directory: str) -> int:
    try:
        return os.stat(_path(directory)).st_size
    except FileNotFoundError:
        return 0  # no fold yet since the directory was emptied


def _set_sequence(directory: str, value: int) -> None:
    fd = os.open(_path(directory), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, value)
    finally:
        os.close(fd)


@contextmanager
def write_section(directory: str) -> Iterator[None]:
    """Every change to the files happens inside: the sequence is odd for its duration."""
    with _writer:
        # An odd value left by a writer that died mid-section is reused: readers never
        # accept an odd value, so ending at the next even one is all that matters.
        odd = read_sequence(directory) | 1
        _set_sequence(directory, odd)
        try:
            yield
        finally:
            _set_sequence(directory, odd + 1)


def read_stable(directory: str, read: Callable[[], T], stuck_seconds: float | None = None,
                clock: Callable[[], float] = time.monotonic,
                pause: Callable[[float], None] = time.sleep) -> T:
    """``read()`` again until no fold overlapped it; MetricsUnsettled if folding is stuck."""
    seconds = STUCK_SECONDS if stuck_seconds is None else stuck_seconds
    started = moved_at = clock()
    seen = None
    while True:
        before = read_sequence(directory)
        if before != seen:
            seen, moved_at = before, clock()  # the folder made progress
        if before % 2 == 0:
            try:
                result = read()
            except (FileNotFoundError, struct.error):
                # Listed, then folded away before it was opened; or a file opened before
                # prometheus_client sized it (shorter than its header): a new worker's
                # is sized at once, a killed worker's is folded away.
                pass
            else:
                if read_sequence(directory) == before:
                    return result
        now = clock()
        if now - moved_at >= seconds or now - started >= READ_LIMIT_SECONDS:
            raise MetricsUnsettled(now - started, read_sequence(directory))
        pause(RETRY_PAUSE_SECONDS)


class StableMultiProcessCollector(MultiProcessCollector):
    """MultiProcessCollector whose every result was read while no fold ran."""

    def __init__(self, registry, path: str, stuck_seconds: float | None = None):
        super().__init__(registry, path=path)
        self._stuck_seconds = stuck_seconds

    def collect(self):
        return read_stable(self._path, self._collect_once, self._stuck_seconds)

    def _collect_once(self) -> list:
        return list(super().collect())

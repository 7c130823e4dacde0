"""Fold a dead gunicorn worker's multiprocess metric files into one archive file per kind.

prometheus_client keeps one file per process and kind (``counter_<pid>.db``, ...) and
sums them at every scrape. Files of dead workers never go away, so with worker
recycling (``max_requests``) every scrape reads more files. The master folds a dead
worker's files into ``<kind>_archive.db`` (same keys, values combined the way the
collector combines them) under an exclusive lock that scrapes take shared: a scrape
never sees a value both in a worker file and in the archive, or in neither, so the
values it renders are unchanged by folding and counters never go backwards.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

LOCK_NAME = ".fold.lock"
ARCHIVE_ID = "archive"

# File prefix -> how two values of one key combine across processes, exactly as
# MultiProcessCollector combines them. Gauges in mode "all" keep a pid label (folding
# would change the series) and live* gauges are removed by mark_process_dead: neither
# is folded.
_SUM = "sum"
_FOLDABLE = {
    "counter": _SUM,
    "histogram": _SUM,
    "summary": _SUM,
    "gauge_sum": _SUM,
    "gauge_max": "max",
    "gauge_min": "min",
    "gauge_mostrecent": "mostrecent",
}


@contextmanager
def _flock(directory: str, mode: int) -> Iterator[None]:
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing the description drops the lock


def scrape_lock(directory: str) -> ContextManager[None]:
    """Held (shared) while a scrape reads the files; folds wait for it."""
    return _flock(directory, fcntl.LOCK_SH)


class LockedMultiProcessCollector(MultiProcessCollector):
    """MultiProcessCollector that reads every file under the scrape lock."""

    def collect(self):
        with scrape_lock(self._path):
            return list(super().collect())


def _combine(how: str, old: tuple[float, float], new: tuple[float, float]) -> tuple[float, float]:
    (old_value, old_ts), (new_value, new_ts) = old, new
    if how == _SUM:
        return old_value + new_value, 0.0
    if how == "max":
        return max(old_value, new_value), 0.0
    if how == "min":
        return min(old_value, new_value), 0.0
    return new if new_ts > old_ts else old  # mostrecent: the later write wins


def _read(path: str) -> dict[str, tuple[float, float]]:
    try:
        return {key: (value, ts)
                for key, value, ts, _ in MmapedDict.read_all_values_from_file(path)}
    except FileNotFoundError:
        return {}


def _write_archive(directory: str, prefix: str, values: dict[str, tuple[float, float]]) -> None:
    # Written aside (no .db suffix, so no scrape reads it half-done), then renamed over.
    tmp = os.path.join(directory, f".{prefix}_{ARCHIVE_ID}.tmp")
    if os.path.exists(tmp):
        os.unlink(tmp)
    archive = MmapedDict(tmp)
    try:
        for key, (value, ts) in values.items():
            archive.write_value(key, value, ts)
    finally:
        archive.close()
    os.replace(tmp, os.path.join(directory, f"{prefix}_{ARCHIVE_ID}.db"))


def fold_files(directory: str, pid: int) -> int:
    """Fold ``pid``'s foldable files into the archives; the caller holds the fold lock.

    Returns how many files were folded (and removed).
    """
    folded = 0
    for prefix, how in _FOLDABLE.items():
        path = os.path.join(directory, f"{prefix}_{pid}.db")
        if not os.path.exists(path):
            continue
        # Moved aside first: if writing the archive fails it is moved back, so a value
        # is always in exactly one of the two places.
        aside = os.path.join(directory, f".{prefix}_{pid}.folding")
        os.replace(path, aside)
        try:
            merged = _read(os.path.join(directory, f"{prefix}_{ARCHIVE_ID}.db"))
            for key, entry in _read(aside).items():
                merged[key] = _combine(how, merged[key], entry) if key in merged else entry
            _write_archive(directory, prefix, merged)
        except BaseException:
            os.replace(aside, path)
            raise
        os.unlink(aside)
        folded += 1
    return folded


def fold_dead_worker(directory: str, pid: int, wait_seconds: float = 2.0,
                     clock: Callable[[], float] = time.monotonic,
                     pause: Callable[[float], None] = time.sleep) -> bool:
    """Fold a dead worker's files (called by the master in child_exit).

    Waits at most ``wait_seconds`` for running scrapes, so the master is never stuck
    behind one; on timeout the files stay (still summed correctly, just not
    compacted) and False is returned so the caller can retry later.
    """
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 0o600)
    try:
        deadline = clock() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    return False
                pause(0.01)
        try:
            fold_files(directory, pid)
        except (OSError, RuntimeError, ValueError) as exc:
            # A torn file (worker killed mid-write): leave it as it is for the collector.
            log.warning("metrics: could not fold files of worker %s: %s", pid, exc)
        return True
    finally:
        os.close(fd)

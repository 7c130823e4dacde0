"""Fold a dead gunicorn worker's multiprocess metric files into one archive file per kind.

prometheus_client keeps one file per process and kind (``counter_<pid>.db``, ...) and
sums them at every scrape. Files of dead workers never go away, so with worker
recycling (``max_requests``) every scrape reads more files. The master folds a dead
worker's files into ``<kind>_archive.db`` (same keys, values combined the way the
collector combines them) inside a write section of the fold sequence lock
(``fold_seqlock``): a scrape that overlapped a fold reads again, so it never renders a
value both in a worker file and in the archive, or in neither; the values it renders
are unchanged by folding and counters never go backwards.
"""
from __future__ import annotations

import glob
import logging
import os
import struct
from typing import Iterable

from prometheus_client.mmap_dict import MmapedDict

from .fold_seqlock import SEQUENCE_NAME, write_section

log = logging.getLogger(__name__)

ARCHIVE_ID = "archive"
# A file starts with its used length (4 bytes) and 4 bytes of padding.
_HEADER_BYTES = 8

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
        if os.path.getsize(path) < _HEADER_BYTES:
            # Created but never sized: its worker was killed between prometheus_client's
            # open and truncate. It holds no value, and would fail every scrape if kept.
            return {}
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
    """Fold ``pid``'s foldable files into the archives, inside a write section.

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


def fold_dead_workers(directory: str, pids: Iterable[int]) -> set[int]:
    """Fold dead workers' files in one write section; returns the pids left with none.

    Never waits for a scrape: scrapes that overlap the section read again.
    """
    folded = set()
    with write_section(directory):
        for pid in pids:
            try:
                fold_files(directory, pid)
            except (OSError, RuntimeError, ValueError, struct.error) as exc:
                # A torn file (worker killed mid-write) or a file system error: the file
                # stays where it was, still summed by every scrape.
                log.warning("metrics: could not fold files of worker %s: %s", pid, exc)
            else:
                folded.add(pid)
    return folded


def fold_dead_worker(directory: str, pid: int) -> bool:
    """Fold one dead worker's files; True when none of its foldable files is left."""
    return pid in fold_dead_workers(directory, [pid])


def reset_directory(directory: str) -> None:
    """Empty the directory at start: an earlier server's files would be summed into ours.

    Also drops what a master killed mid-fold left: a file moved aside, a half-written
    archive, an odd fold sequence (which would make every scrape give up).
    """
    for pattern in ("*.db", ".*.folding", ".*.tmp", SEQUENCE_NAME):
        for leftover in glob.glob(os.path.join(directory, pattern)):
            os.unlink(leftover)

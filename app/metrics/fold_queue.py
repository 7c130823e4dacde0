"""The master's "metrics-folder" thread: dead workers' files are folded off the signal path.

gunicorn calls child_exit in the master while it reaps workers (from its main loop;
older releases, which setup.cfg still allows, from the SIGCHLD handler itself), and
respawns nobody until it returns. So child_exit only queues the pid here, a call that
touches no file (an unlink can wait for the file system journal on a busy disk), and
this one thread does the rest: it drops the dead worker's live gauges at once, then
folds its other files.

Fork safety: the master forks workers while this thread runs, and a child gets a copy
of whatever the thread held at that instant. The child never folds, so it needs
nothing the thread can hold: the queue (only ever used in the master), the writer
lock of fold_seqlock (a ``threading.Lock``; a file lock would be inherited and stay
held by every worker), descriptors of files being folded (the child never touches
them; they are closed when it exits). Logging locks are re-created in the child by
the logging module itself, and the thread takes no prometheus_client lock (it reads
and writes files with ``MmapedDict`` directly, never through metric values).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Iterable

from prometheus_client.multiprocess import mark_process_dead

from .multiprocess_folding import fold_dead_workers

log = logging.getLogger(__name__)

# A fold starts this long after the first death it folds, and takes every death queued
# by then: a burst of deaths folds in one section, and sections start at least this far
# apart, so a scrape whose read of the files is shorter (they take milliseconds) is never
# overlapped twice. Nothing waits for the fold itself: until it, the files are summed.
GATHER_SECONDS = 0.25

_STOP = object()


def _never_live(pid: int) -> bool:
    return False


class DeadWorkerFolder:
    """Marks dead and folds the pids submitted to it, one write section per batch."""

    def __init__(self, directory: str, is_live: Callable[[int], bool] = _never_live,
                 fold: Callable[[str, Iterable[int]], set[int]] = fold_dead_workers,
                 mark_dead: Callable[[int, str], None] = mark_process_dead,
                 gather: float = GATHER_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.directory = directory
        # SimpleQueue.put is reentrant (documented as such): safe even if a signal
        # handler calling submit interrupts another submit in the same thread.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._is_live = is_live
        self._fold = fold
        self._mark_dead = mark_dead
        self._gather = gather
        self._clock = clock
        self._thread = threading.Thread(target=self._run, name="metrics-folder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, pid: int) -> None:
        """Queue a dead worker's pid. Never blocks and takes no lock another thread holds."""
        self._queue.put(pid)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop after the fold in progress; pids still queued stay unfolded (still summed)."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if not batch:
                continue
            try:
                self._fold(self.directory, batch)
            except OSError as exc:
                # The directory itself went away or became unwritable (per-file
                # problems are handled by the fold): these files stay, still summed.
                log.warning("metrics: could not fold files of workers %s: %s", batch, exc)

    def _next_batch(self) -> list[int] | None:
        """The next dead pid and those queued in the GATHER after it; None once stopped."""
        batch: list[int] = []
        deadline = None
        while True:
            if deadline is None:
                pid = self._queue.get()
            else:
                remaining = deadline - self._clock()
                try:
                    pid = (self._queue.get(timeout=remaining) if remaining > 0
                           else self._queue.get_nowait())
                except queue.Empty:
                    return batch
            if pid is _STOP:
                return None
            if deadline is None:
                deadline = self._clock() + self._gather
            if self._arrived(pid) and pid not in batch:
                batch.append(pid)

    def _arrived(self, pid: int) -> bool:
        """Drop a dead worker's live gauges at once; True when its files are to be folded."""
        # A pid that is a live worker again (pid reuse) now owns its files: they are
        # marked and folded when that worker dies. A new worker opens its files only
        # once the app is imported, long after the fork that put it in the table.
        if self._is_live(pid):
            return False
        try:
            self._mark_dead(pid, self.directory)
        except OSError as exc:
            log.warning("metrics: could not drop live gauges of worker %s: %s", pid, exc)
        return True

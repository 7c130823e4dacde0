"""gunicorn server hooks: process-wide set-up and teardown, called from config/gunicorn.conf.py.

The master validates settings and migrates the store once before forking; the
metrics directory is emptied at start, and a dead worker's metric files are marked
and folded into archives (so recycled workers do not slow every scrape down); each
worker turns SIGTERM into a drain (not ready, still serving) before its graceful exit.
"""
from __future__ import annotations

import shutil
import signal
import sys
import threading
from pathlib import Path

from prometheus_client import multiprocess

from .metrics.multiprocess_folding import fold_dead_worker
from .settings import SettingsError, load_settings
from .store import open_store
from .tenants.purge import recover as recover_purges

# Dead workers whose files could not be folded yet (a scrape held the lock too long).
_unfolded: set[int] = set()


def on_starting(server, multiproc_dir: str) -> None:
    try:
        settings = load_settings()
        store = open_store(settings)
    except SettingsError as exc:
        print(f"tenantgate: bad setting {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        # Finish or undo purges a crash interrupted. No worker runs yet, so no purge is
        # in flight: every leftover is a crash's.
        recover_purges(store, settings.data_root)
    finally:
        store.close()
    directory = Path(multiproc_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # Files left by an earlier server would be summed into this one's metrics.
    for leftover in directory.glob("*.db"):
        leftover.unlink()
    server.log.info("metrics directory %s", directory)


def post_worker_init(worker) -> None:
    """Replace the worker's SIGTERM handler: drain first, then exit gracefully."""
    app = worker.wsgi
    drain = app.extensions["tenantgate.drain"]
    seconds = app.extensions["tenantgate.settings"].shutdown_drain_seconds
    graceful_exit = worker.handle_exit

    def on_sigterm(sig, frame):
        if drain.draining:
            return
        drain.start()
        worker.log.info("SIGTERM: reporting not ready, draining for %.1fs", seconds)
        timer = threading.Timer(seconds, graceful_exit, args=(sig, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_sigterm)


def worker_exit(server, worker) -> None:
    """Stop this worker's tenant runtimes so no tenant thread outlives the worker."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        from . import close_app

        close_app(app)


def child_exit(server, worker, multiproc_dir: str) -> None:
    # Drop the dead worker's live-gauge files so they stop counting.
    multiprocess.mark_process_dead(worker.pid, multiproc_dir)
    # Fold its counters and histograms into the archives: without this, every recycled
    # worker (max_requests, timeouts, crashes) leaves files that every scrape reads.
    _unfolded.add(worker.pid)
    for pid in sorted(_unfolded):
        if not fold_dead_worker(multiproc_dir, pid):
            server.log.warning("metrics: files of worker %s not folded yet (scrape running)",
                               pid)
            break
        _unfolded.discard(pid)


def on_exit(server, directories: list[tuple[str, bool]]) -> None:
    """Remove the metrics and limit directories this server created (not operator-set ones)."""
    for directory, created_here in directories:
        if created_here:
            shutil.rmtree(directory, ignore_errors=True)

"""gunicorn server hooks: process-wide set-up and teardown, called from config/gunicorn.conf.py.

The master validates settings and migrates the store once before forking; the
metrics directory is emptied at start, and a dead worker's metric files are marked
and folded into archives (so recycled workers do not slow every scrape down); each
worker turns SIGTERM into a drain (not ready, still serving) before its graceful exit.
The management listener is bound by the master and served by every worker.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path

from prometheus_client import multiprocess

from .management import ManagementServer, bind_management_socket
from .metrics.multiprocess_folding import fold_dead_worker
from .services import services_of
from .settings import ServerSettings, SettingsError, load_settings
from .store import open_store
from .tenants.purge import recover as recover_purges

# Dead workers whose files could not be folded yet (a scrape held the lock too long).
_unfolded: set[int] = set()


# The management socket, bound by the master and inherited by every worker it forks.
_management_socket: socket.socket | None = None


def on_starting(server, multiproc_dir: str, server_settings: ServerSettings) -> None:
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
    _bind_management(server, server_settings.management_bind)
    directory = Path(multiproc_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # Files left by an earlier server would be summed into this one's metrics.
    for leftover in directory.glob("*.db"):
        leftover.unlink()
    server.log.info("metrics directory %s", directory)


def _bind_management(server, address: str | None) -> None:
    global _management_socket
    if address is None:
        return
    try:
        _management_socket = bind_management_socket(address)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"tenantgate: bad setting MANAGEMENT_BIND: cannot listen on {address}: {reason}",
              file=sys.stderr)
        sys.exit(2)
    server.log.info("management listener on %s (probes and /metrics)", address)


def post_worker_init(worker, server_settings: ServerSettings) -> None:
    """Serve the management listener; make SIGTERM drain first, then exit gracefully."""
    if _management_socket is not None:
        ManagementServer(_management_socket, worker.wsgi,
                         server_settings.management_threads).start()
    app = worker.wsgi
    found = services_of(app)
    found.upload_pruner.start()
    drain = found.drain
    seconds = found.settings.shutdown_drain_seconds
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
    """Close the management socket; remove the metrics and limit directories this server
    created (not operator-set ones)."""
    if _management_socket is not None:
        _management_socket.close()
    for directory, created_here in directories:
        if created_here:
            shutil.rmtree(directory, ignore_errors=True)

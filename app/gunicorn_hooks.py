"""gunicorn server hooks: process-wide set-up and teardown, called from config/gunicorn.conf.py.

The master validates settings and migrates the store once before forking; the
metrics directory is emptied at start, and the master's metrics-folder thread drops a
dead worker's live gauges and folds its other metric files into archives (so recycled
workers do not slow every scrape down, and the master never waits for that); each
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

from .management import ManagementServer, bind_management_socket
from .metrics.fold_queue import DeadWorkerFolder
from .metrics.multiprocess_folding import reset_directory
from .services import services_of
from .settings import ServerSettings, SettingsError, load_settings
from .store import StoreUnavailable, open_store
from .tenants.default_tenant import register_default_tenant
from .tenants.purge import recover as recover_purges

# The master's metrics-folder thread: started in on_starting, stopped in on_exit.
_folder: DeadWorkerFolder | None = None


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
        register_default_tenant(store, settings)
    except StoreUnavailable as exc:
        server.log.warning("default tenant not registered at start: %s", exc)
    finally:
        store.close()
    _bind_management(server, server_settings.management_bind)
    directory = Path(multiproc_dir)
    directory.mkdir(parents=True, exist_ok=True)
    reset_directory(multiproc_dir)
    # Started before the first fork, so that no child_exit ever waits for a thread start.
    metrics_folder(server, multiproc_dir)
    server.log.info("metrics directory %s", directory)


def metrics_folder(server, multiproc_dir: str) -> DeadWorkerFolder:
    """The running metrics-folder thread, started on first use."""
    global _folder
    if _folder is None or not _folder.is_alive():
        # A pid that names a live worker again (pid reuse) is not folded.
        _folder = DeadWorkerFolder(multiproc_dir, is_live=lambda pid: pid in server.WORKERS)
        _folder.start()
    return _folder


def stop_metrics_folder(server) -> None:
    global _folder
    if _folder is not None:
        # Bounded: a fold takes milliseconds, and the thread is a daemon anyway.
        if not _folder.stop(timeout=5.0):
            server.log.warning("metrics-folder thread still folding at exit")
        _folder = None


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
    found.rechecker.start()
    found.jobs.start()  # queued jobs, left by any worker or host, run without a new submit
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
    """Runs in the master, which respawns nobody until it returns: queue the pid, no more.

    The metrics-folder thread drops the dead worker's live-gauge files (so they stop
    counting) and folds its counters and histograms into the archives: without folding,
    every recycled worker (max_requests, timeouts, crashes) leaves files that every
    scrape reads.
    """
    metrics_folder(server, multiproc_dir).submit(worker.pid)


def on_exit(server, directories: list[tuple[str, bool]]) -> None:
    """Stop the metrics-folder thread, close the management socket, and remove the
    metrics and limit directories this server created (not operator-set ones)."""
    stop_metrics_folder(server)
    if _management_socket is not None:
        _management_socket.close()
    for directory, created_here in directories:
        if created_here:
            shutil.rmtree(directory, ignore_errors=True)

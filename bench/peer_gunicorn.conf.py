"""gunicorn settings for the peer apps: the bare app's settings plus what the exporter needs.

prometheus-flask-exporter's multiprocess mode, as its documentation sets it up for
gunicorn: PROMETHEUS_MULTIPROC_DIR (set by the benchmark) emptied before the workers
start, and ``child_exit`` marking a dead worker's live gauges.
"""
import os
import runpy
from pathlib import Path

from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

globals().update({name: value for name, value in runpy.run_path(
    str(Path(__file__).resolve().with_name("bare_gunicorn.conf.py"))).items()
    if not name.startswith("__")})

MULTIPROC_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server):
    # Files left by an earlier server would be summed into this one's metrics.
    MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
    for leftover in MULTIPROC_DIR.glob("*.db"):
        leftover.unlink()


def child_exit(server, worker):
    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)

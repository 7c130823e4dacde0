"""Tenantgate's gunicorn config with child_exit as it was before folding (A/B for item 7).

Only marks dead workers' live gauges, so their counter and histogram files pile up.
Used by the benchmark alone, to measure what folding buys in the same run.
"""
import runpy
from pathlib import Path

from prometheus_client import multiprocess

globals().update({name: value for name, value in runpy.run_path(
    str(Path(__file__).resolve().parents[1] / "config" / "gunicorn.conf.py")).items()
    if not name.startswith("__")})


def child_exit(server, worker):  # noqa: F811  (replaces the folding hook)
    multiprocess.mark_process_dead(worker.pid, MULTIPROC_DIR)  # noqa: F821

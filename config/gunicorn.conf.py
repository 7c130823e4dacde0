"""gunicorn configuration for Tenantgate: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Every value comes from the environment with a default (see README, "Settings").
"""
import os
import tempfile

# prometheus_client picks its value storage when it is imported, so the multiprocess
# directory is set here, before anything imports it. Unset: a private temporary one.
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
MULTIPROC_DIR_CREATED = not MULTIPROC_DIR
if MULTIPROC_DIR_CREATED:
    MULTIPROC_DIR = tempfile.mkdtemp(prefix="tenantgate-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = MULTIPROC_DIR

# Slot files for concurrency limits, shared by every worker of this server.
LIMIT_DIR = os.environ.get("LIMIT_STATE_DIR", "")
LIMIT_DIR_CREATED = not LIMIT_DIR
if LIMIT_DIR_CREATED:
    LIMIT_DIR = tempfile.mkdtemp(prefix="tenantgate-limits-")
    os.environ["LIMIT_STATE_DIR"] = LIMIT_DIR

from app import gunicorn_hooks  # noqa: E402  (imports prometheus_client)
from app.settings import load_server_settings  # noqa: E402

_server = load_server_settings()

# -- Sockets ---------------------------------------------------------------------------
# Tenant traffic. In production put a buffering proxy in front (docs/deployment.md).
bind = _server.bind
# MANAGEMENT_BIND (default 127.0.0.1:9180; empty: off): /healthz, /readyz, /readyz/<check>
# and /metrics again, on MANAGEMENT_THREADS threads per worker that tenant traffic never
# uses. Point the orchestrator's probes and Prometheus here. Bound by the master in
# on_starting, so a second server on the same address fails to start.

# -- Workers: threads serve requests; processes isolate crashes ---------------------------
# gthread, answering gunicorn's own error pages as JSON without echoing the request.
worker_class = "app.gunicorn_worker.JsonErrorWorker"
workers = _server.workers
threads = _server.threads
# A worker silent for this long is killed and replaced.
timeout = 30
# SIGTERM: workers drain (SHUTDOWN_DRAIN_SECONDS), then finish in-flight requests.
graceful_timeout = 60
keepalive = 5
# No control socket: it would be shared by every server this user runs.
control_socket_disable = True

# -- Logging: to stderr; the access log leaves out query strings --------------------------
accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# Every log line is redacted: no key, whatever a malformed request carried.
logger_class = "app.gunicorn_logging.RedactingLogger"


# -- Server hooks -------------------------------------------------------------------------
def on_starting(server):
    gunicorn_hooks.on_starting(server, MULTIPROC_DIR, _server)


def post_worker_init(worker):
    gunicorn_hooks.post_worker_init(worker, _server)


def worker_exit(server, worker):
    gunicorn_hooks.worker_exit(server, worker)


def child_exit(server, worker):
    gunicorn_hooks.child_exit(server, worker, MULTIPROC_DIR)


def on_exit(server):
    gunicorn_hooks.on_exit(server, [(MULTIPROC_DIR, MULTIPROC_DIR_CREATED),
                                    (LIMIT_DIR, LIMIT_DIR_CREATED)])

"""gunicorn settings for the bare baseline app, mirroring config/gunicorn.conf.py without hooks.

Same worker class, processes, threads, keep-alive, timeouts and access log, so that
Tenantgate / bare measures the application, not the server around it.
"""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 30
graceful_timeout = 60
keepalive = 5
# No control socket: it would be shared by every server this user runs.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

"""Every per-process metric Tenantgate defines, in one place, bound to one registry per app.

One registry per app means many apps in one process (tests) never collide. Under
gunicorn the values also go to prometheus_client's multiprocess files. No metric
here carries a ``tenant`` label: those are rendered at scrape time from shared
state (see ``store_collector.py``), because per-process files can never forget a label.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        # Frozen global readiness metrics (contract sec. 3). The gauges keep the value most
        # recently set by any live worker, which is the server's latest evaluation.
        self.readiness_state = Gauge(
            "readiness_state", "Global readiness: 1 ready, 0 not ready",
            registry=registry, multiprocess_mode="livemostrecent")
        self.readiness_transitions = Counter(
            "readiness_transitions", "Changes of global readiness seen by /readyz",
            registry=registry)
        self.readiness_check_duration = Histogram(
            "readiness_check_duration_seconds", "Time to evaluate global readiness",
            registry=registry)
        self.readiness_check_ok = Gauge(
            "readiness_check_ok", "Result of each global readiness check: 1 ok, 0 failed",
            ["check"], registry=registry, multiprocess_mode="livemostrecent")
        # HTTP metrics under prometheus-flask-exporter's names and labels (the alert rules
        # use them), recorded by http.py with every label bounded.
        self.http_duration = Histogram(
            "flask_http_request_duration_seconds", "Flask HTTP request duration in seconds",
            ["method", "route", "status"], registry=registry)
        self.http_requests = Counter("flask_http_request_total", "Total number of HTTP requests",
                                     ["method", "status"], registry=registry)
        self.http_exceptions = Counter(
            "flask_http_request_exceptions_total",
            "HTTP requests that ended in an unexpected exception (answered 500)",
            ["method", "status"], registry=registry)
        # The one tenant-labelled per-process series: its tenant label is always the
        # fallback "default", so it can add at most one label value, never grow with traffic.
        self.tenancy_fallback = Counter(
            "tenancy_fallback", "Code that needed a tenant context and fell back to default:main",
            ["tenant", "workspace", "component"], registry=registry)
        # Scheduled rechecks of tenants' validators (app/runtime/rechecks.py), by result;
        # no tenant label (tenant_health_state says which tenant is in which state).
        self.tenant_rechecks = Counter(
            "tenant_rechecks", "Scheduled tenant rechecks by result", ["result"],
            registry=registry)

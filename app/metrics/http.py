"""HTTP request metrics: duration, count and unhandled errors by method, route and status.

The names and labels are the ones prometheus-flask-exporter defines (the alert rules
and dashboards use them), recorded here because every label value must stay bounded
whatever a client sends (contract sec. 17): a method outside the standard ones is
``other``, a request that matched no route is ``<unmatched>``, and a status outside the
ones the app and its framework answer is its class (``4xx``, ``5xx``, ...), which the
rules' ``status=~"5.."`` still match. Labelled children are looked up once per
(method, route, status) and cached, so a request costs two dictionary reads and two
value writes.
"""
from __future__ import annotations

import threading
from time import perf_counter

from flask import Flask, Request, Response, g, request

from ..errors import was_unhandled
from .definitions import Metrics

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED = "<unmatched>"
STATUSES = frozenset({200, 201, 202, 204, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405,
                      406, 409, 413, 414, 415, 422, 429, 431, 500, 502, 503, 504})


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


def status_label(status: int) -> str:
    return str(status) if status in STATUSES else f"{status // 100}xx"


def route_label(req: Request) -> str:
    """The matched URL rule (never the raw path, which a client could vary without bound)."""
    rule = req.url_rule
    return rule.rule if rule is not None else UNMATCHED


class HttpRecorder:
    def __init__(self, metrics: Metrics):
        self._metrics = metrics
        self._children: dict[tuple[str, str, int], tuple] = {}
        self._lock = threading.Lock()

    def init_app(self, app: Flask) -> None:
        app.before_request(_start_timer)
        app.after_request(self._record)

    def _record(self, response: Response) -> Response:
        started = g.get("http_started")
        if started is None:
            return response  # refused before the app's own hooks ran (nothing to time)
        key = (method_label(request.method), route_label(request), response.status_code)
        children = self._children.get(key) or self._child(key)
        children[0].observe(perf_counter() - started)
        children[1].inc()
        if was_unhandled():
            children[2].inc()
        return response

    def _child(self, key: tuple[str, str, int]) -> tuple:
        method, route, code = key
        status = status_label(code)
        with self._lock:
            found = self._children.get(key)
            if found is None:
                metrics = self._metrics
                found = (metrics.http_duration.labels(method, route, status),
                         metrics.http_requests.labels(method, status),
                         metrics.http_exceptions.labels(method, status))
                self._children[key] = found
        return found


def _start_timer() -> None:
    g.http_started = perf_counter()

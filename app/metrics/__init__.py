"""Metrics concern: metric definitions, HTTP metrics, and the /metrics exposition."""
from __future__ import annotations

from flask import Flask
from prometheus_client import CollectorRegistry

from ..settings import Settings
from ..store import Store

from .definitions import Metrics
from .exposition import bp
from .http import HttpRecorder
from .store_collector import StoreCollector

__all__ = ["Metrics", "StoreCollector", "bp", "init_app"]


def init_app(app: Flask, store: Store, settings: Settings) -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    metrics = Metrics(registry)
    HttpRecorder(metrics).init_app(app)
    app.extensions["tenantgate.metrics"] = metrics
    collector = StoreCollector(store, settings)
    app.extensions["tenantgate.store_collector"] = collector
    app.extensions["tenantgate.scrape_collectors"] = [collector]
    return metrics

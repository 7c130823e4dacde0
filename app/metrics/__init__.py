"""Metrics concern: metric definitions, HTTP metrics, and the /metrics exposition."""
from __future__ import annotations

from flask import Flask

from ..openapi import api_of
from .definitions import Metrics
from .exposition import bp
from .http import HttpRecorder
from .store_collector import LabelCapCollector

__all__ = ["LabelCapCollector", "Metrics", "bp", "init_app"]


def init_app(app: Flask, services) -> None:
    """Time and count every request; serve /metrics."""
    HttpRecorder(services.metrics).init_app(app)
    api_of(app).register_blueprint(bp)

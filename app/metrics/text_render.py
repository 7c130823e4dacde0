"""The Prometheus text format, rendered byte for byte as prometheus_client does, faster.

``generate_latest`` checks every label name of every sample against the legacy character
set with a regular expression and formats each line through several calls; with 1,000
tenants a scrape renders about 8,000 tenant samples, and that alone took most of it.
Here a family's label names are checked once per scrape, and the plain gauges and counters
every scrape-time collector yields are formatted in one pass (the tenant families, kept as
rows, render themselves: text_family.py). Any other family (histograms,
OpenMetrics-only samples, timestamps, names outside the legacy set) is handed to
``generate_latest`` itself, so the output never differs from it.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric

from .text_family import (LEGACY_LABEL, LEGACY_METRIC, NEEDS_ESCAPE, TextFamily, escape_label,
                          value_text)

_SIMPLE = {"gauge": "", "counter": "_total"}  # the types rendered here, and their suffix
_OPENMETRICS_ONLY = ("_created", "_gsum", "_gcount")


class _One:
    """One family as a collector, for generate_latest."""

    def __init__(self, metric: Metric):
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self._metric]


def render(registry) -> bytes:
    """What ``generate_latest(registry)`` returns."""
    output: list[str] = []
    for metric in registry.collect():
        text = metric.text() if isinstance(metric, TextFamily) else None
        if text is not None:
            output.append(text)
        elif not _render_simple(metric, output):
            output.append(generate_latest(_One(metric)).decode("utf-8"))
    return "".join(output).encode("utf-8")


def _render_simple(metric: Metric, output: list[str]) -> bool:
    """Append a plain gauge or counter family's lines; False (nothing appended) for any
    other family."""
    suffix = _SIMPLE.get(metric.type)
    if suffix is None or not LEGACY_METRIC.fullmatch(metric.name):
        return False
    special = tuple(metric.name + s for s in _OPENMETRICS_ONLY)
    order: tuple[str, ...] | None = None  # the family's label names, sorted, checked once
    template = ""
    lines = []
    for sample in metric.samples:
        name = sample.name
        if sample.timestamp is not None or name in special or not LEGACY_METRIC.fullmatch(name):
            return False
        labels = sample.labels
        if not labels:
            lines.append(f"{name} {value_text(sample.value)}\n")
            continue
        if order is None or len(labels) != len(order) or any(k not in labels for k in order):
            order = tuple(sorted(labels))
            if not all(LEGACY_LABEL.fullmatch(key) for key in order):
                return False
            template = ",".join(f'{key}="{{}}"' for key in order)
        values = [labels[key] for key in order]
        if NEEDS_ESCAPE.search("".join(values)):
            values = [escape_label(value) for value in values]
        lines.append(f"{name}{{{template.format(*values)}}} {value_text(sample.value)}\n")
    name = metric.name + suffix
    documentation = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    output.append(f"# HELP {name} {documentation}\n# TYPE {name} {metric.type}\n")
    output.extend(lines)
    return True

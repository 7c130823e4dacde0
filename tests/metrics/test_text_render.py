"""The fast text renderer answers exactly what prometheus_client's generate_latest does."""
from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from app.metrics.text_family import TextFamily
from app.metrics.text_render import render
from app.metrics.exposition import build_scrape_registry
from app.services import services_of

ADMIN = {"X-Admin-Key": "render-admin"}


@pytest.fixture
def settings_overrides():
    return {"TENANT_ADMIN_KEY": "render-admin"}


class Families:
    def __init__(self, families):
        self._families = families

    def collect(self):
        return list(self._families)


def registry_of(*families) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families(families))
    return registry


def test_plain_gauges_and_counters_render_as_generate_latest_does():
    gauge = GaugeMetricFamily("tenant_things", 'Help with a \\ backslash\nand "quotes"',
                              labels=["tenant", "limit"])
    for tenant, value in (("a", 0), ("b", 1.5), ("c", 1e7), ("d", -2), ("e", math.inf),
                          ("f", math.nan), ("g", 123456789012), ("h", 1234567.0),
                          ("i", -1e7), ("j", 0.1), ("k", -math.inf), ("l", 1e-9)):
        gauge.add_metric([tenant, "llm_total"], value)
    counter = CounterMetricFamily("tenant_refusals", "Refusals", labels=["tenant"])
    counter.add_metric(["a"], 3)
    bare = GaugeMetricFamily("storage_free_bytes", "Free bytes")
    bare.add_metric([], 4096)
    registry = registry_of(gauge, counter, bare)

    assert render(registry) == generate_latest(registry)


def test_awkward_label_values_are_escaped_as_generate_latest_does():
    gauge = GaugeMetricFamily("odd", "Odd values", labels=["value", "b"])
    for value in ('quote"d', "back\\slash", "new\nline", "ütf-8 ✓", "", 'all\\"\n', "{0}{braces}"):
        gauge.add_metric([value, "plain"], 1)
    mixed = GaugeMetricFamily("mixed", "Samples with different label names")
    mixed.add_metric([], 1)
    mixed.samples.append(type(mixed.samples[0])("mixed", {"z": "1", "a": "2"}, 2, None, None))
    mixed.samples.append(type(mixed.samples[0])("mixed", {"a": "3"}, 3, None, None))
    registry = registry_of(gauge, mixed)

    assert render(registry) == generate_latest(registry)


def test_families_it_does_not_render_itself_are_left_to_generate_latest():
    registry = CollectorRegistry()
    Counter("made_total", "A counter with _created", ["kind"], registry=registry).labels("x").inc()
    Histogram("took_seconds", "A histogram", registry=registry).observe(0.3)
    Info("build", "An info", registry=registry).info({"version": "1"})
    Gauge("plain", "A gauge", registry=registry).set(2)
    stamped = GaugeMetricFamily("stamped", "A timestamped sample")
    stamped.add_metric([], 1, timestamp=1700000000)
    registry.register(Families([stamped]))

    assert render(registry) == generate_latest(registry)


def test_a_whole_scrape_renders_as_generate_latest_does(app, client):
    for tenant in ("acme", "globex", "initech"):
        assert client.put(f"/admin/tenants/{tenant}", json={}, headers=ADMIN).status_code == 201
        client.get(f"/t/{tenant}/health")
        client.get(f"/tenant/{tenant}/readyz")
    found = services_of(app)
    live = build_scrape_registry(found.metrics.registry, found.settings.multiproc_dir,
                                 found.collectors)
    registry = registry_of(*live.collect())  # one reading of it: process figures move

    expected = generate_latest(registry)
    assert b'tenant="globex"' in expected
    assert render(registry) == expected


VALUES = (0, 1, 1.5, 1e7, -2, math.inf, math.nan, 123456789012, 1234567.0, -1e7, 0.1, -math.inf,
          1e-9, -0.0, 0.0, True, False, 7, 7.0)
AWKWARD = ('quote"d', "back\\slash", "new\nline", "ütf-8 ✓", "", "{0}{braces}", "}{")


@pytest.mark.parametrize("labels", [[], ["tenant"], ["tenant", "state"], ["a", "b"],
                                    ["tenant", "limit", "scope"], ["d", "c", "b", "a"]])
@pytest.mark.parametrize("kind, made", [("gauge", GaugeMetricFamily),
                                        ("counter", CounterMetricFamily)])
@pytest.mark.parametrize("label_values", [("acme", "globex"), AWKWARD], ids=["plain", "awkward"])
def test_text_families_render_as_the_families_they_stand_for(labels, kind, made, label_values):
    name = "tenant_things_total" if kind == "counter" else "tenant_things"
    family = TextFamily(name, 'Help with a \\ backslash\nand "quotes" {0}', kind, labels)
    expected = made(name, 'Help with a \\ backslash\nand "quotes" {0}', labels=labels)
    for index, number in enumerate(VALUES if labels else VALUES[:1]):
        values = tuple(label_values[(index + i) % len(label_values)] for i in range(len(labels)))
        family.add(values, number)
        expected.add_metric(list(values), number)

    assert family.samples == expected.samples
    assert render(registry_of(family)) == generate_latest(registry_of(expected))
    family.add(values, 5)  # rows added after a rendering are rendered too
    expected.add_metric(list(values), 5)
    assert render(registry_of(family)) == generate_latest(registry_of(expected))

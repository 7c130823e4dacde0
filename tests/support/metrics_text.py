"""Prometheus exposition text for assertions: scraped from a test client or a real server,
parsed into {(name, labels): value}, and waited for (bounded) until a series has a value."""
from __future__ import annotations

import requests
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.polling import poll
from tests.support.server import Server

METRIC_SECONDS = 30.0


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def total(text: str, name: str, **labels) -> float:
    """Sum of every sample of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples(text).items() if n == name and wanted <= lbls)


def label_values(text: str, label: str) -> set[str]:
    return {dict(lbls)[label] for (_, lbls) in samples(text) if label in dict(lbls)}


def scrape(source: FlaskClient | Server) -> str | None:
    """The /metrics text. A test client's must answer 200; a server's is None while it
    does not answer (workers restarting, a host stopped), for a poll to try again."""
    if isinstance(source, FlaskClient):
        response = source.get("/metrics")
        assert response.status_code == 200
        return response.get_data(as_text=True)
    try:
        response = source.request("GET", "/metrics", timeout=10)
    except requests.RequestException:
        return None
    return response.text if response.status_code == 200 else None


def wait_for_metric(source: FlaskClient | Server, expected: float, name: str, *,
                    seconds: float = METRIC_SECONDS, **labels) -> str:
    """Poll /metrics (bounded) until ``name{labels}`` is ``expected``; that scrape's text.

    Counts reach the store and other workers' files a moment after the request that made
    them (refusals are written in batches), so an exact count is waited for, not assumed.
    """
    text = poll(lambda: scrape(source),
                lambda text: text is not None and value(text, name, **labels) == expected,
                seconds)
    seen = None if text is None else value(text, name, **labels)
    log = "" if isinstance(source, FlaskClient) else "\n" + source.log()[-3000:]
    assert seen == expected, f"{name}{labels} is {seen}, expected {expected}{log}"
    return text

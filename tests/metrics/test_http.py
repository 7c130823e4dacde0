"""HTTP metrics: every label bounded whatever the client sends (contract sec. 17)."""
from __future__ import annotations

import pytest

from tests.support.metrics_text import label_values, samples, scrape, total


@pytest.mark.parametrize("method", ["QAAAA", "PROPFIND", "X" * 60, "CONNECT", "TRACE"])
def test_a_made_up_method_is_counted_as_other(client, method):
    response = client.open("/healthz", method=method)

    assert response.status_code == 405
    text = scrape(client)
    assert total(text, "flask_http_request_duration_seconds_count", method="other",
                 route="<unmatched>", status="405") == 1
    assert method not in label_values(text, "method")


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_standard_methods_keep_their_name(client, method):
    client.open("/healthz", method=method)

    assert total(scrape(client), "flask_http_request_total", method=method) == 1


def test_a_thousand_made_up_methods_and_paths_add_no_series(client):
    # One of each combination first: the flood below may only repeat them.
    client.open("/healthz", method="QAAAA")
    client.open("/no/such/path/0", method="QAAAA")
    scrape(client)  # the scrape's own GET /metrics series
    before = len(samples(scrape(client)))

    for i in range(1000):
        client.open(f"/no/such/path/{i}", method=f"Q{i:05d}")
        client.open("/healthz", method=f"Z{i:05d}")

    assert len(samples(scrape(client))) == before


def test_a_path_that_matches_no_route_is_unmatched(client):
    client.get("/definitely/not/a/route")

    assert total(scrape(client), "flask_http_request_duration_seconds_count",
                 route="<unmatched>", status="404") == 1


def test_an_unexpected_exception_is_counted(app, client):
    @app.route("/boom-for-test")
    def boom():
        raise ZeroDivisionError("on purpose")

    assert client.get("/boom-for-test").status_code == 500
    text = scrape(client)
    assert total(text, "flask_http_request_exceptions_total", method="GET", status="500") == 1
    assert total(text, "flask_http_request_duration_seconds_count", route="/boom-for-test",
                 status="500") == 1

"""Global readiness and its metrics under a real gunicorn with two workers."""
from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.metrics_text import total, value
from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn


def test_metrics_aggregate_readiness_and_http_from_both_workers(tmp_path):
    calls = 200
    with running_server(tmp_path, workers=2) as server:
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda _: server.get("/readyz").status_code, range(calls)))
        assert codes == [200] * calls
        text = server.get("/metrics").text
        assert len(server.worker_pids()) == 2
    # Each worker evaluated readiness once at start-up, then the probes: both workers' files.
    assert value(text, "readiness_check_duration_seconds_count") == calls + 2
    assert value(text, "readiness_state") == 1.0
    assert value(text, "readiness_transitions_total") == 0.0
    assert value(text, "readiness_check_ok", check="store") == 1.0
    assert total(text, "flask_http_request_total", method="GET", status="200") >= calls
    assert total(text, "flask_http_request_duration_seconds_count",
                 route="/readyz", status="200") == calls


def test_raw_paths_never_become_labels(tmp_path):
    with running_server(tmp_path, workers=2) as server:
        for i in range(5):
            assert server.get(f"/no-such-page-{i}").status_code == 404
        text = server.get("/metrics").text
    assert "no-such-page" not in text
    assert total(text, "flask_http_request_duration_seconds_count", route="<unmatched>") == 5


def test_sigterm_drains_with_503_then_exits_cleanly(tmp_path):
    with running_server(tmp_path, workers=2, env={"SHUTDOWN_DRAIN_SECONDS": "3"}) as server:
        assert server.get("/readyz").status_code == 200
        server.process.send_signal(signal.SIGTERM)
        assert poll(lambda: server.get("/readyz").status_code, lambda status: status == 503,
                    10) == 503
        # While draining, liveness still answers and the failing check is named.
        body = server.get("/readyz?verbose=1").json()
        assert body["status"] == "not ready"
        assert [c["name"] for c in body["checks"] if not c["ok"]] == ["shutdown"]
        assert server.get("/healthz").status_code == 200
        assert server.process.wait(timeout=30) == 0

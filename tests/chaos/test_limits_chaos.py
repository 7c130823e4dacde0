"""Chaos: one tenant saturates every one of its limits under a real gunicorn.

Global readiness does not move and another tenant keeps being served (contract sec. 6, 8).
"""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.metrics_text import value
from tests.support.polling import poll, wait_until
from tests.support.server import running_server

pytestmark = [pytest.mark.chaos, pytest.mark.gunicorn]

KEY = "chaos-limits-key-93ab"
ADMIN = {"X-Admin-Key": KEY}
TIMEOUT = 30.0
NOISY, CALM = "noisy", "calm"
# Small limits so a handful of long holds fills every one: student 1 + teacher 2 = total 3.
NOISY_LIMITS = {"llm_total": 3, "llm_student": 1, "llm_teacher": 2, "ocr": 2}
LONG_HOLDS = ["llm_student", "llm_teacher", "llm_teacher", "ocr", "ocr"]
HOLD_MS = 8000
HAMMERS = 6
ROUNDS = 10


def post(server, path: str) -> requests.Response:
    return server.request("POST", path, timeout=TIMEOUT)


def get(server, path: str) -> requests.Response:
    return server.request("GET", path, timeout=TIMEOUT)


def readiness(text: str) -> tuple:
    return value(text, "readiness_state"), value(text, "readiness_transitions_total")


def noisy_inflight(text: str) -> dict:
    return {name: value(text, "tenant_limit_inflight", tenant=NOISY, limit=name)
            for name in NOISY_LIMITS}


def saturated(server) -> bool:
    return noisy_inflight(get(server, "/metrics").text) == NOISY_LIMITS


def test_a_tenant_saturating_every_limit_moves_neither_readiness_nor_other_tenants(tmp_path):
    # Every thread too, not only every limit: the share of threads is tested on its own.
    env = {"TENANT_ADMIN_KEY": KEY, "CHAOS_ENABLED": "1", "TENANT_MAX_THREAD_SHARE": "1"}
    with running_server(tmp_path, workers=4, env=env) as server:
        assert server.put(f"/admin/tenants/{NOISY}", json={"limits": NOISY_LIMITS},
                          headers=ADMIN).status_code == 201
        assert server.put(f"/admin/tenants/{CALM}", json={}, headers=ADMIN).status_code == 201
        for tenant in (NOISY, CALM):
            assert get(server, f"/t/{tenant}/health").status_code == 200
        before = get(server, "/readyz")
        assert (before.status_code, before.json()) == (200, {"status": "ready"})
        baseline = readiness(get(server, "/metrics").text)
        assert baseline[0] == 1

        stop = threading.Event()
        hammered: list = []

        def hammer(i: int) -> None:
            names = list(NOISY_LIMITS)
            while not stop.is_set():
                name = names[i % len(names)]
                i += 1
                response = post(server, f"/t/{NOISY}/chaos/hold/{name}?ms={HOLD_MS}")
                hammered.append((name, response.status_code, response.json()))

        with ThreadPoolExecutor(len(LONG_HOLDS) + HAMMERS) as pool:
            long_holds = [pool.submit(post, server, f"/t/{NOISY}/chaos/hold/{name}?ms={HOLD_MS}")
                          for name in LONG_HOLDS]
            assert wait_until(lambda: saturated(server), TIMEOUT), \
                f"never saturated\n{server.log()[-3000:]}"
            hammers = [pool.submit(hammer, i) for i in range(HAMMERS)]
            try:
                rounds = [check_round(server) for _ in range(ROUNDS)]
                still = noisy_inflight(get(server, "/metrics").text)
            finally:
                stop.set()
            for future in hammers:
                future.result(timeout=TIMEOUT)
            held = [future.result(timeout=TIMEOUT) for future in long_holds]

        # Every check ran while the noisy tenant held every one of its limits.
        assert still == NOISY_LIMITS
        for ready, ready_metrics, health, hold in rounds:
            assert ready == (200, {"status": "ready"})
            assert ready_metrics == baseline
            assert health[0] == 200 and health[1]["tenant"] == CALM
            assert hold == (200, {"tenant": CALM, "limit": "llm_student", "held_ms": 0})

        # The long holds were admitted; every other attempt of the noisy tenant was refused.
        assert [r.status_code for r in held] == [200] * len(LONG_HOLDS)
        assert hammered, "the hammer threads sent nothing"
        refused_by = Counter()
        for name, status, body in hammered:
            assert status == 429, (name, status, body)
            expected = "ocr" if name == "ocr" else "llm_total"
            assert body == {"error": "concurrency_limit", "scope": "tenant", "limit": expected}
            refused_by[expected] += 1

        after = get(server, "/readyz")
        assert (after.status_code, after.json()) == (200, {"status": "ready"})
        text = get(server, "/metrics").text
        assert readiness(text) == baseline
        assert noisy_inflight(text) == {name: 0 for name in NOISY_LIMITS}
        text = poll(lambda: get(server, "/metrics").text, lambda text: all(
            value(text, "tenant_limit_rejections_total", tenant=NOISY, limit=limit,
                  scope="tenant") == count for limit, count in refused_by.items()), TIMEOUT)
        for limit, count in refused_by.items():
            assert value(text, "tenant_limit_rejections_total", tenant=NOISY, limit=limit,
                         scope="tenant") == count
        assert all(value(text, "tenant_limit_rejections_total", tenant=CALM, limit=name,
                         scope=scope) is None
                   for name in NOISY_LIMITS for scope in ("tenant", "global"))


def check_round(server) -> tuple:
    ready = get(server, "/readyz")
    health = get(server, f"/t/{CALM}/health")
    hold = post(server, f"/t/{CALM}/chaos/hold/llm_student?ms=0")
    metrics = readiness(get(server, "/metrics").text)
    return ((ready.status_code, ready.json()), metrics, (health.status_code, health.json()),
            (hold.status_code, hold.json()))

"""What items 1-2 measure: every case of the alternating rounds, and the answers it must get.

Every case runs once per round. Its throughput is taken as a ratio to the bare app
in the same round, and to the cases named in ``against`` (a refusal to the 200 on
the same route, Tenantgate to the hand-rolled peer). Before the rounds each case is
probed once; a case answering otherwise than expected stops the benchmark, since it
would measure the wrong path.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

from .servers import API_KEY, Server

TENANTS = 100
# Tenant id prefixes, 100 ids each: ordinary tenants; on the main server every odd "half-"
# tenant is set not ready; "ghost-" ids are in no store; on the chaos server every "held-"
# tenant has llm_student = 1, held by the benchmark for the whole measurement.
ORDINARY, HALF, GHOST, HELD = "bench-", "half-", "ghost-", "held-"
HOLD = "/t/{t}/chaos/hold/llm_student?ms=0"
HALF_READY = "half"  # expected answers: 200 for even ids, 503 for odd ones


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    server: str  # bare, exporter, handrolled, main (Tenantgate) or chaos (CHAOS_ENABLED=1)
    path: str
    load: Mapping = field(default_factory=dict)  # Load.run options besides the path
    expect: int | str = 200
    error: str | None = None  # the error code a refusal's body must name
    against: tuple[str, ...] = ()
    target: str = "—"  # for the ratio to bare
    short: str = ""  # its name in another case's ratio to it

    @property
    def prefix(self) -> str:
        return self.load.get("prefix", ORDINARY)


def _spread(prefix: str = ORDINARY, **options) -> dict:
    return {"tenants": TENANTS, "prefix": prefix, **options}


CASES = (
    Case("bare", "bare Flask GET /health", "bare", "/health"),
    Case("exporter", "Flask + prometheus-flask-exporter (multiprocess) GET /health", "exporter",
         "/health"),
    Case("handrolled", "hand-rolled peer (exporter + SQLite tenant read) GET /t/<t>/health",
         "handrolled", "/t/{t}/health", _spread(), short="hand-rolled peer"),
    Case("tenant_health", "Tenantgate GET /t/<t>/health", "main", "/t/{t}/health", _spread(),
         against=("handrolled",), target="≥ 0.70", short="its 200 (GET /t/<t>/health)"),
    Case("tenant_readyz", "Tenantgate GET /tenant/<t>/readyz", "main", "/tenant/{t}/readyz",
         _spread(), target="≥ 0.7", short="all ready"),
    Case("tenant_readyz_half", "Tenantgate GET /tenant/<t>/readyz, half not ready (503)", "main",
         "/tenant/{t}/readyz", _spread(HALF), expect=HALF_READY, error="override",
         against=("tenant_readyz",), target="≥ 0.60"),
    Case("global_readyz", "Tenantgate GET /readyz", "main", "/readyz"),
    Case("unknown_tenant", "Tenantgate GET /t/<unknown>/health (404 unknown_tenant)", "main",
         "/t/{t}/health", _spread(GHOST), expect=404, error="unknown_tenant",
         against=("tenant_health",)),
    Case("hold", "Tenantgate POST /t/<t>/chaos/hold/llm_student?ms=0 (200)", "chaos", HOLD,
         _spread(method="POST"), short="its 200 (same route)"),
    Case("hold_refused", "Tenantgate POST /t/<held>/chaos/hold/llm_student?ms=0 "
         "(429 concurrency_limit)", "chaos", HOLD, _spread(HELD, method="POST"), expect=429,
         error="concurrency_limit", against=("hold",)),
    Case("set_ready", "Tenantgate POST /tenant/<t>/set_ready", "main", "/tenant/{t}/set_ready",
         _spread(method="POST", api_key=API_KEY, flip_ready=True), target="≥ 0.40"),
)
BY_KEY = {case.key: case for case in CASES}
# Targets of the same-round ratios to another case: a refusal (or a half-refused run) is
# never slower than the 200 on the same route; Tenantgate is ahead of the hand-rolled peer.
AGAINST_TARGETS = {"handrolled": "> 1.0"}
REFUSAL_TARGET = "≥ 1.0"


def probe(case: Case, server: Server) -> None:
    """One request per expected answer; RuntimeError when an answer differs."""
    expected = [(0, 200), (1, 503)] if case.expect == HALF_READY else [(0, case.expect)]
    for index, status in expected:
        path = case.path.replace("{t}", f"{case.prefix}{index}")
        body = {"ready": None} if case.load.get("flip_ready") else None  # None: the reset
        headers = {"X-API-Key": case.load["api_key"]} if case.load.get("api_key") else None
        got, raw = server.request(case.load.get("method", "GET"), path, body=body,
                                  headers=headers)
        if got != status or (status >= 400 and _error(raw) != case.error):
            raise RuntimeError(f"{case.key}: {path} answered {got} {raw[:200]!r}, "
                               f"expected {status} {case.error or ''}")


def _error(raw: bytes) -> str | None:
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    # /tenant/<t>/readyz answers its status document, whose reason says why it is not ready.
    return found.get("error", found.get("reason"))

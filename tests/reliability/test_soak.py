"""Soak: a bounded mixed load on 4 gunicorn workers; nothing leaks, nothing flips /readyz.

16 client threads run reads, writes, uploads, limit-saturating chaos holds
(CHAOS_ENABLED=1) and admin changes for SOAK_SECONDS (default 120). Asserted:

- every answer is a 2xx, a 4xx documented for its operation in /openapi.json, a 429 or
  a 503; no request fails outright, and no tenant (all have valid configs) is ever
  refused as ``tenant_unavailable``;
- /readyz, polled every half second, answers 200 ready throughout;
- no worker is replaced, and between the baseline (30 s, or a quarter of a shorter run)
  and the end no worker grows by more than THREAD_BOUND threads, FD_BOUND file
  descriptors or RSS_BOUND_KIB of resident memory.

Run it with ``make soak`` (SOAK_SECONDS=N shortens it); ``make test`` deselects it.
"""
from __future__ import annotations

import io
import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.support.polling import poll
from tests.support.server import running_server

pytestmark = [pytest.mark.soak, pytest.mark.gunicorn]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
BASELINE_AT = min(30.0, SOAK_SECONDS / 4)
CLIENTS = 16
WORKERS = 4
TIMEOUT = 30.0
# Growth allowed per worker from the baseline to the end. A few threads come and go (a
# tenant reloaded after an admin change starts its upload thread afresh, validators run on
# short-lived threads) and pools keep their high-water mark (SQLite connections per thread,
# slot-file descriptors per concurrent permit). A leak grows with every request, upload or
# change: thousands over a soak, far past these.
THREAD_BOUND = 8
FD_BOUND = 32
RSS_BOUND_KIB = 16 * 1024

ADMIN_KEY = "soak-admin-key-61c0d8"
API_KEY = "soak-api-key-b7e214"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
API = {"X-API-Key": API_KEY}
TENANTS = [f"soak-{i}" for i in range(6)]


# -- the load -----------------------------------------------------------------------------------
class Client:
    """One load thread: a session, its own random stream and its last upload."""

    def __init__(self, server, number: int):
        self.server = server
        self.random = random.Random(number)
        self.session = requests.Session()
        self.last_upload: tuple[str, str] | None = None

    def tenant(self) -> str:
        return self.random.choice(TENANTS)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.server.url(path), timeout=TIMEOUT, **kwargs)

    # Each returns (method, documented path, response).
    def health(self):
        return "GET", "/t/{tenant}/health", self.call("GET", f"/t/{self.tenant()}/health")

    def exams(self):
        return "GET", "/t/{tenant}/exams", self.call("GET", f"/t/{self.tenant()}/exams")

    def tenant_readyz(self):
        return "GET", "/tenant/{tenant}/readyz", \
            self.call("GET", f"/tenant/{self.tenant()}/readyz")

    def set_ready(self):
        ready = self.random.choice([True, False, None])
        return "POST", "/tenant/{tenant}/set_ready", self.call(
            "POST", f"/tenant/{self.tenant()}/set_ready", json={"ready": ready}, headers=API)

    def admin_list(self):
        return "GET", "/admin/tenants", self.call("GET", "/admin/tenants", headers=ADMIN)

    def admin_change(self):
        limits = {"llm_student": self.random.choice([1, 2, 3]), "ocr": 5}
        return "PUT", "/admin/tenants/{tenant}", self.call(
            "PUT", f"/admin/tenants/{self.tenant()}", json={"limits": limits}, headers=ADMIN)

    def upload(self):
        tenant = self.tenant()
        content = os.urandom(self.random.randint(256, 4096))
        response = self.call("POST", f"/t/{tenant}/uploads",
                             files={"file": ("scan.bin", io.BytesIO(content))})
        if response.status_code == 202:
            self.last_upload = (tenant, response.json()["id"])
        return "POST", "/t/{tenant}/uploads", response

    def upload_status(self):
        if self.last_upload is None:
            return self.upload()
        tenant, upload_id = self.last_upload
        return "GET", "/t/{tenant}/uploads/{upload_id}", \
            self.call("GET", f"/t/{tenant}/uploads/{upload_id}")

    def chaos_hold(self):
        return "POST", "/t/{tenant}/chaos/hold/{limit}", self.call(
            "POST", f"/t/{self.tenant()}/chaos/hold/llm_student?ms={self.random.randint(50, 300)}")

    def metrics(self):
        return "GET", "/metrics", self.call("GET", "/metrics")

    def healthz(self):
        return "GET", "/healthz", self.call("GET", "/healthz")


MIX = {"health": 10, "exams": 6, "tenant_readyz": 8, "set_ready": 4, "admin_list": 3,
       "admin_change": 1, "upload": 4, "upload_status": 3, "chaos_hold": 6, "metrics": 1,
       "healthz": 2}


def documented_statuses(spec: dict) -> dict[tuple[str, str], set[int]]:
    return {(method.upper(), path): {int(code) for code in operation["responses"]
                                     if code.isdigit()}
            for path, item in spec["paths"].items() for method, operation in item.items()
            if method in ("get", "put", "post", "delete")}


def error_code(response: requests.Response) -> str:
    try:
        return str(response.json().get("error") or response.json().get("status"))
    except ValueError:
        return "not json"


def allowed(status: int, documented: set[int]) -> bool:
    return 200 <= status < 300 or status in (429, 503) or \
        (400 <= status < 500 and status in documented)


# -- resources of the workers --------------------------------------------------------------------
def resources(pid: int) -> dict[str, int]:
    """Threads, file descriptors (sockets apart: clients' keep-alive connections come and
    go with the load, so they are reported but not bounded) and resident memory."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass  # closed meanwhile
    sockets = sum(target.startswith("socket:") for target in targets)
    return {"threads": int(fields["Threads"]), "fds": len(targets) - sockets,
            "sockets": sockets, "rss_kib": int(fields["VmRSS"].split()[0])}


def all_workers_forked(server) -> list[int]:
    """Bounded poll: the master has forked every worker; /healthz answers meanwhile."""
    def forked() -> list[int]:
        pids = sorted(server.worker_pids())
        if len(pids) < WORKERS:
            assert server.get("/healthz").status_code == 200
        return pids

    pids = poll(forked, lambda pids: len(pids) >= WORKERS)
    assert len(pids) >= WORKERS, f"only {pids} forked"
    return pids


def prepare(server, data_root: Path) -> None:
    for tenant in TENANTS:
        assert server.put(f"/admin/tenants/{tenant}", json={}, headers=ADMIN).status_code == 201
        manifest = data_root / tenant / "data" / "exams" / "EX1" / "manifest.json"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"exam_id": "EX1", "tenant": tenant}))


def test_mixed_load_leaks_nothing_and_readyz_stays_ready(tmp_path):
    env = {"TENANT_ADMIN_KEY": ADMIN_KEY, "TENANT_API_KEY": API_KEY, "CHAOS_ENABLED": "1",
           "LIMIT_STATE_DIR": str(tmp_path / "limits")}
    statuses: Counter = Counter()
    errors: Counter = Counter()  # (status, error code) of every non-2xx answer
    by_operation: Counter = Counter()
    unexpected: list = []
    failures: list = []
    not_ready: list = []
    disabled: Counter = Counter()  # (tenant, reason) of every disabled health seen
    samples: dict[int, list[tuple[float, dict]]] = {}
    lock = threading.Lock()

    with running_server(tmp_path, workers=WORKERS, env=env) as server:
        pids = all_workers_forked(server)
        prepare(server, tmp_path / "tenants")
        documented = documented_statuses(server.get("/openapi.json").json())
        started = time.monotonic()
        deadline = started + SOAK_SECONDS

        def load(number: int) -> None:
            client = Client(server, number)
            names = list(MIX)
            weights = [MIX[name] for name in names]
            while time.monotonic() < deadline:
                name = client.random.choices(names, weights)[0]
                try:
                    method, path, response = getattr(client, name)()
                except requests.RequestException as exc:
                    with lock:
                        failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    continue
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code >= 300:
                        errors[(response.status_code, error_code(response))] += 1
                    by_operation[name] += 1
                    if not allowed(response.status_code, documented[(method, path)]):
                        unexpected.append((name, response.status_code, response.text[:200]))
            client.session.close()

        def poll_readyz() -> None:
            while time.monotonic() < deadline:
                try:
                    answer = requests.get(server.url("/readyz"), timeout=TIMEOUT)
                    if answer.status_code != 200 or answer.json() != {"status": "ready"}:
                        not_ready.append((round(time.monotonic() - started, 1),
                                          answer.status_code, answer.text[:200]))
                except requests.RequestException as exc:
                    not_ready.append((round(time.monotonic() - started, 1), repr(exc)))
                listed = requests.get(server.url("/admin/tenants"), headers=ADMIN,
                                      timeout=TIMEOUT).json()["tenants"]
                for tenant in listed:
                    if tenant["health"]["state"] == "disabled":
                        disabled[(tenant["tenant_id"], tenant["health"]["reason"])] += 1
                time.sleep(0.5)  # pause inside a loop bounded by its deadline

        def sample() -> None:
            while time.monotonic() < deadline:
                at = time.monotonic() - started
                for pid in pids:
                    try:
                        samples.setdefault(pid, []).append((at, resources(pid)))
                    except (FileNotFoundError, ProcessLookupError):
                        pass  # a replaced worker is caught below
                time.sleep(1.0)  # pause inside a loop bounded by its deadline

        threads = [threading.Thread(target=load, args=(n,), name=f"soak-{n}")
                   for n in range(CLIENTS)]
        threads += [threading.Thread(target=poll_readyz, name="soak-readyz"),
                    threading.Thread(target=sample, name="soak-sampler")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SOAK_SECONDS + 120)
        assert not any(thread.is_alive() for thread in threads)
        pids_at_end = sorted(server.worker_pids())
        health = {t["tenant_id"]: t["health"] for t in
                  server.get("/admin/tenants", headers=ADMIN).json()["tenants"]}
    # The app logs "unhandled error" with the traceback of every 500 (access lines apart).
    log = "\n".join(line for line in server.log().splitlines()
                    if not line.startswith("127.0.0.1 "))
    tracebacks = log.split("unhandled error")[1:]

    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    print(f"\nsoak: {elapsed:.0f}s, {total} requests ({total / elapsed:.0f}/s), "
          f"statuses {dict(sorted(statuses.items()))}")
    print(f"soak: by operation {dict(sorted(by_operation.items()))}")
    print(f"soak: refusals {dict(sorted(errors.items()))}")
    print(f"soak: tenant health at the end {health}")
    print(f"soak: disabled tenants seen while polling {dict(disabled)}")
    print(f"soak: readyz not ready {len(not_ready)}, failed requests {len(failures)}, "
          f"unexpected statuses {len(unexpected)}")
    growth = {}
    for pid in pids:
        series = samples.get(pid, [])
        baseline = next((figures for at, figures in series if at >= BASELINE_AT), None)
        # The end: the last sample, taken under the same load as the baseline.
        final = series[-1][1] if series and series[-1][0] > BASELINE_AT else None
        if baseline is None or final is None:
            continue
        peak = {key: max(figures[key] for _, figures in series) for key in final}
        growth[pid] = {key: final[key] - baseline[key] for key in final}
        print(f"soak: worker {pid}: baseline@{BASELINE_AT:.0f}s {baseline}, end {final}, "
              f"peak {peak}, growth {growth[pid]}")

    assert failures == []
    assert unexpected == [], "first traceback:" + (tracebacks[0][:3000] if tracebacks else "")
    assert not_ready == []
    # Every soak tenant has a valid config: refusing one as failed is a spurious outage.
    assert errors[(503, "tenant_unavailable")] == 0, dict(disabled)
    assert pids_at_end == pids, "a worker died and was replaced during the soak"
    assert sorted(growth) == pids, "no baseline: SOAK_SECONDS too short to sample"
    for pid, grew in growth.items():
        assert grew["threads"] <= THREAD_BOUND, (pid, grew)
        assert grew["fds"] <= FD_BOUND, (pid, grew)
        assert grew["rss_kib"] <= RSS_BOUND_KIB, (pid, grew)
    assert statuses[202] > 0 and statuses[429] > 0  # uploads happened, limits saturated

"""Crash safety under a real gunicorn: what was acknowledged survives, the file stays whole.

Burst: many threads send admin writes (PUT) and set_ready calls; each tenant's calls come
from one thread, in order, so the expected final state is known. In the middle of the
burst one worker, or the whole server (its process group), is killed with SIGKILL. A new
server on the same store must then show every acknowledged write: the last acknowledged
value, or a value sent after it whose answer was lost with the crash (it may have been
committed just before the kill). ``PRAGMA integrity_check`` is ok and the cap holds.

The store that cannot be written (immutable files, or a full file system) is checked
the same way: writes refused with 503 store_unavailable, reads still served, the store
check reported as it is, and every thread writing again once the condition is gone.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import urllib3

from tests.support.metrics_text import value
from tests.support.server import running_server

pytestmark = pytest.mark.gunicorn

ADMIN_KEY = "crash-admin-key-5e2a90"
API_KEY = "crash-api-key-c41f7b"
ADMIN = {"X-Admin-Key": ADMIN_KEY, "Connection": "close"}
API = {"X-API-Key": API_KEY, "Connection": "close"}
TIMEOUT = 30.0

THREADS = 12
TENANTS_PER_THREAD = 3  # 36 ids against a cap of 30: some creations are refused
STEPS = 8
CAP = 30
READY_VALUES = [False, True, None]
KILL_AFTER_ACKS = 150  # of 576 planned calls: the kill lands in the middle of the burst


def server_env(tmp_path: Path) -> dict:
    return {"TENANT_ADMIN_KEY": ADMIN_KEY, "TENANT_API_KEY": API_KEY,
            "MAX_TENANT_LABELS": str(CAP), "LIMIT_STATE_DIR": str(tmp_path / "limits")}


# -- the burst ------------------------------------------------------------------------------------
@dataclass
class Call:
    tenant: str
    kind: str  # "put" or "set_ready"
    value: Any  # the PUT's sequence number, or the ready value
    outcome: int | str | None = None  # HTTP status, "lost" (maybe applied), "not sent"

    @property
    def acked(self) -> bool:
        return isinstance(self.outcome, int) and 200 <= self.outcome < 300

    @property
    def maybe_applied(self) -> bool:
        """Sent, but its answer was lost (or was a server error): it may have been applied."""
        return self.outcome == "lost" or (isinstance(self.outcome, int) and self.outcome >= 500)


def put_body(thread: int, seq: int) -> dict:
    return {"limits": {"ocr": seq + 1}, "extra": {"seq": seq, "writer": thread}}


def plan(thread: int) -> list[Call]:
    tenants = [f"crash-{thread:02d}-{j}" for j in range(TENANTS_PER_THREAD)]
    calls = []
    for step in range(STEPS):
        for tenant in tenants:
            calls.append(Call(tenant, "put", step))
            calls.append(Call(tenant, "set_ready", READY_VALUES[(step + thread) % 3]))
    return calls


def never_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class Burst:
    """THREADS threads, each sending its own tenants' calls in order."""

    def __init__(self, server, stop_on_failure_after_kill: bool):
        self.server = server
        self.plans = [plan(thread) for thread in range(THREADS)]
        self.stop_on_failure = stop_on_failure_after_kill
        self.killed = threading.Event()
        self.enough = threading.Event()
        self.acks = 0
        self.acks_at_kill = 0
        self.sent_after_kill = 0
        self.statuses: Counter = Counter()
        self._lock = threading.Lock()

    def send(self, thread: int, call: Call) -> requests.Response:
        if call.kind == "put":
            return requests.put(self.server.url(f"/admin/tenants/{call.tenant}"),
                                json=put_body(thread, call.value), headers=ADMIN,
                                timeout=TIMEOUT)
        return requests.post(self.server.url(f"/tenant/{call.tenant}/set_ready"),
                             json={"ready": call.value}, headers=API, timeout=TIMEOUT)

    def run_thread(self, thread: int) -> None:
        for call in self.plans[thread]:
            after_kill = self.killed.is_set()
            try:
                response = self.send(thread, call)
                call.outcome = response.status_code
            except requests.RequestException as exc:
                call.outcome = "not sent" if never_sent(exc) else "lost"
            with self._lock:
                self.statuses[call.outcome] += 1
                self.sent_after_kill += after_kill and call.outcome != "not sent"
                if call.acked:
                    self.acks += 1
                    if self.acks >= KILL_AFTER_ACKS:
                        self.enough.set()
            if after_kill and self.stop_on_failure and not call.acked:
                return  # the server is gone: stop instead of sending calls nobody receives

    def run(self, kill) -> None:
        threads = [threading.Thread(target=self.run_thread, args=(t,), name=f"burst-{t}")
                   for t in range(THREADS)]
        for thread in threads:
            thread.start()
        try:
            assert self.enough.wait(120), f"only {self.acks} calls acknowledged"
            with self._lock:
                self.acks_at_kill = self.acks
                self.killed.set()
            kill()
        finally:
            for thread in threads:
                thread.join(120)
        assert not any(thread.is_alive() for thread in threads)

    def calls(self) -> list[tuple[int, Call]]:
        return [(thread, call) for thread, calls in enumerate(self.plans) for call in calls]


# -- what the restarted server must show -----------------------------------------------------------
def allowed(calls: list[Call], nothing: Any) -> set:
    """Values the store may hold after ``calls`` (one tenant, one kind, in order)."""
    sent = [c for c in calls if c.outcome is not None]
    last_ack = max((i for i, c in enumerate(sent) if c.acked), default=None)
    values = {nothing} if last_ack is None else {sent[last_ack].value}
    later = sent if last_ack is None else sent[last_ack + 1:]
    return values | {c.value for c in later if c.maybe_applied}


def lost_writes(burst: Burst, tenants: dict[str, dict], overrides: dict[str, Any]) -> list:
    """Every acknowledged call whose effect is missing from the restarted server."""
    problems = []
    by_tenant: dict[str, list[Call]] = {}
    for _, call in burst.calls():
        by_tenant.setdefault(call.tenant, []).append(call)
    for tenant, calls in by_tenant.items():
        puts = [c for c in calls if c.kind == "put"]
        readies = [c for c in calls if c.kind == "set_ready"]
        record = tenants.get(tenant)
        if record is None:
            if any(c.acked for c in calls):
                problems.append(f"{tenant}: acknowledged, but gone after the crash")
            continue
        seq = record["extra"].get("seq")
        if seq not in allowed(puts, None):
            problems.append(f"{tenant}: config seq {seq}, allowed {allowed(puts, None)}")
        expected_limits = {} if seq is None else {"ocr": seq + 1}
        if record["limits"] != expected_limits:
            problems.append(f"{tenant}: torn record {record['limits']} for seq {seq}")
        if overrides[tenant] not in allowed(readies, None):
            problems.append(f"{tenant}: override {overrides[tenant]}, "
                            f"allowed {allowed(readies, None)}")
    return problems


def override_of(server, tenant: str) -> Any:
    body = requests.get(server.url(f"/tenant/{tenant}/readyz"), timeout=TIMEOUT).json()
    return body["status"] == "ready" if body["reason"] == "override" else None


def integrity(db: Path) -> tuple[list, int, dict]:
    conn = sqlite3.connect(db)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        count = conn.execute("SELECT COUNT(*) FROM tenants").fetchone()[0]
        overrides = {row[0]: None if row[1] is None else bool(row[1]) for row in
                     conn.execute("SELECT tenant_id, ready_override FROM tenants")}
    finally:
        conn.close()
    return check, count, overrides


def verify_after_restart(tmp_path: Path, burst: Burst, label: str) -> None:
    with running_server(tmp_path, workers=4, env=server_env(tmp_path)) as again:
        listed = requests.get(again.url("/admin/tenants"), headers=ADMIN, timeout=TIMEOUT)
        assert listed.status_code == 200
        tenants = {t["tenant_id"]: t for t in listed.json()["tenants"]}
        overrides = {tenant: override_of(again, tenant) for tenant in tenants}
        metrics = requests.get(again.url("/metrics"), timeout=TIMEOUT).text
        ready = requests.get(again.url("/readyz"), timeout=TIMEOUT)
    check, count, stored_overrides = integrity(tmp_path / "store" / "tenants.sqlite3")

    acked = [call for _, call in burst.calls() if call.acked]
    problems = lost_writes(burst, tenants, overrides)
    unexpected = {outcome: n for outcome, n in burst.statuses.items()
                  if isinstance(outcome, int) and outcome not in (200, 201, 429, 503)}
    print(f"\n{label}: {len(acked)} acknowledged writes checked "
          f"({burst.acks_at_kill} before the kill, {burst.sent_after_kill} calls sent after), "
          f"outcomes {dict(burst.statuses)}, {count} tenants (cap {CAP}), lost {len(problems)}")
    assert problems == []
    assert unexpected == {}
    assert check == [("ok",)]
    assert count <= CAP and len(tenants) == count
    assert value(metrics, "tenant_labels_active") == count <= CAP
    assert stored_overrides == overrides
    assert ready.status_code == 200
    # The kill did land in the middle: calls were acknowledged before it and sent after it.
    assert burst.acks_at_kill >= KILL_AFTER_ACKS


def test_acknowledged_writes_survive_a_worker_killed_mid_burst(tmp_path):
    with running_server(tmp_path, workers=4, env=server_env(tmp_path)) as server:
        burst = Burst(server, stop_on_failure_after_kill=False)
        victim = {}

        def kill_one_worker():
            victim["pid"] = server.worker_pids()[0]
            os.kill(victim["pid"], signal.SIGKILL)

        burst.run(kill_one_worker)
        # The master replaced the worker and the rest of the burst was served.
        assert victim["pid"] not in server.worker_pids()
        assert burst.sent_after_kill > 0
        assert burst.acks > burst.acks_at_kill
    verify_after_restart(tmp_path, burst, "worker SIGKILL")


def test_acknowledged_writes_survive_the_whole_server_killed_mid_burst(tmp_path):
    with running_server(tmp_path, workers=4, env=server_env(tmp_path)) as server:
        burst = Burst(server, stop_on_failure_after_kill=True)

        def kill_everything():
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(10)

        burst.run(kill_everything)
        assert server.process.returncode == -signal.SIGKILL
    verify_after_restart(tmp_path, burst, "server SIGKILL")


# -- a store that cannot be written ----------------------------------------------------------
# Needs room, as much as extra may hold (64 KiB, app/free_json.py): refused by a full
# file system too.
BIG_EXTRA = {"pad": "x" * 60_000}


@contextmanager
def immutable_store(tmp_path: Path) -> Iterator[dict]:
    """The store's files become immutable (chattr +i): even root cannot write them.

    The -shm file stays writable: SQLite maps it into memory, and an immutable mapping
    kills the worker with SIGBUS, which is a different failure from a read-only store.
    """
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("chattr +i needs root and e2fsprogs' chattr")
    probe = tmp_path / "chattr-probe"
    probe.write_bytes(b"")
    tried = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.skip(f"this file system does not support chattr +i: {tried.stderr.strip()}")
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    paths: list[Path] = []

    def apply() -> None:
        store = tmp_path / "store"
        # Not the writers' wake-up FIFO either: it holds no data, and chattr takes no FIFO.
        paths.extend(p for p in sorted(store.iterdir())
                     if not p.name.endswith("-shm") and p.is_file())
        for path in paths:
            subprocess.run(["chattr", "+i", str(path)], check=True)

    def remove() -> None:
        for path in paths:
            subprocess.run(["chattr", "-i", str(path)], check=False)

    try:
        yield {"env": {}, "apply": apply, "remove": remove}
    finally:
        remove()


@contextmanager
def full_file_system(tmp_path: Path) -> Iterator[dict]:
    """The store lives on a 4 MiB tmpfs that a filler file fills to the last block."""
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    tried = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tenantgate-full",
                            str(mount_point)], capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {tried.stderr.strip()}")
    fillers: list[Path] = []

    def apply() -> None:
        for chunk in (1 << 16, 512):
            filler = mount_point / f"filler-{chunk}"
            fillers.append(filler)
            with open(filler, "wb", buffering=0) as handle:
                try:
                    while handle.write(b"\0" * chunk):
                        pass
                except OSError:  # ENOSPC: full
                    pass
        assert shutil.disk_usage(mount_point).free < 4096

    def remove() -> None:
        for filler in fillers:
            filler.unlink(missing_ok=True)

    try:
        yield {"env": {"TENANT_DB_PATH": str(mount_point / "tenants.sqlite3")},
               "apply": apply, "remove": remove, "db": mount_point / "tenants.sqlite3"}
    finally:
        remove()
        if subprocess.run(["umount", str(mount_point)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


CONDITIONS = {"immutable-files": immutable_store, "full-file-system": full_file_system}


@dataclass
class Outage:
    refused: list = field(default_factory=list)  # (what, status, body, Retry-After)
    reads: dict = field(default_factory=dict)  # what -> (status, body)
    before: dict = field(default_factory=dict)
    readyz: tuple = ()
    store_check_metric: float | None = None
    healthz: int = 0
    after: Counter = field(default_factory=Counter)
    readyz_after: int = 0
    integrity: list = field(default_factory=list)


def fan_out(calls) -> list:
    """Run the calls at once, so the workers' threads (and their connections) all take part."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


@pytest.fixture(scope="module", params=CONDITIONS, ids=CONDITIONS.keys())
def outage(request, tmp_path_factory) -> Outage:
    tmp_path = tmp_path_factory.mktemp(request.param)
    seen = Outage()
    with CONDITIONS[request.param](tmp_path) as condition:
        # Concurrent reads of one tenant take every thread here: no share in the way.
        env = {"TENANT_ADMIN_KEY": ADMIN_KEY, "TENANT_API_KEY": API_KEY,
               "TENANT_MAX_THREAD_SHARE": "1", **condition["env"]}
        with running_server(tmp_path, workers=2, threads=4, env=env) as server:
            def get(path, headers=ADMIN):
                return requests.get(server.url(path), headers=headers, timeout=TIMEOUT)

            assert server.put("/admin/tenants/acme", json={"extra": {"v": 1}},
                              headers=ADMIN).status_code == 201
            assert server.post("/tenant/acme/set_ready", json={"ready": False},
                               headers=API).status_code == 200
            seen.before = get("/admin/tenants/acme").json()
            condition["apply"]()
            try:
                writes = {
                    "update": lambda: requests.put(
                        server.url("/admin/tenants/acme"),
                        json={"extra": {"v": 2, **BIG_EXTRA}}, headers=ADMIN, timeout=TIMEOUT),
                    "create": lambda: requests.put(
                        server.url("/admin/tenants/newco"),
                        json={"extra": BIG_EXTRA}, headers=ADMIN, timeout=TIMEOUT),
                    "set_ready": lambda: requests.post(
                        server.url("/tenant/acme/set_ready"), json={"ready": True},
                        headers=API, timeout=TIMEOUT),
                    "purge": lambda: requests.delete(
                        server.url("/admin/tenants/acme?purge=1"), headers=ADMIN,
                        timeout=TIMEOUT),
                }
                for what, call in writes.items():
                    for response in fan_out([call] * 8):
                        seen.refused.append((what, response.status_code, response.text,
                                             response.headers.get("Retry-After")))
                reads = {"list": "/admin/tenants", "one": "/admin/tenants/acme",
                         "tenant route": "/t/acme/health", "tenant readiness":
                         "/tenant/acme/readyz", "metrics": "/metrics"}
                for what, path in reads.items():
                    answers = fan_out([lambda p=path: get(p)] * 8)
                    seen.reads[what] = [(r.status_code, r.text) for r in answers]
                ready = get("/readyz?verbose=1")
                seen.readyz = (ready.status_code, ready.json())
                seen.store_check_metric = value(get("/metrics").text, "readiness_check_ok",
                                                check="store")
                seen.healthz = get("/healthz").status_code
            finally:
                condition["remove"]()
            for _ in range(4):
                answers = fan_out([lambda i=i: requests.put(
                    server.url("/admin/tenants/acme"), json={"extra": {"after": i}},
                    headers=ADMIN, timeout=TIMEOUT) for i in range(12)])
                seen.after.update(r.status_code for r in answers)
            seen.readyz_after = get("/readyz").status_code
        db = condition.get("db", tmp_path / "store" / "tenants.sqlite3")
        seen.integrity, _, _ = integrity(db)
    print(f"\n{request.param}: refused {Counter(s for _, s, _, _ in seen.refused)}, "
          f"readyz during {seen.readyz[0]}, writes after {dict(seen.after)}")
    return seen


def test_writes_are_refused_with_503_store_unavailable_while_the_store_cannot_be_written(
        outage):
    assert outage.refused
    for what, status, body, retry_after in outage.refused:
        assert (what, status, body) == (what, 503, '{"error":"store_unavailable"}\n')
        assert retry_after is not None


def test_reads_keep_working_and_nothing_refused_was_stored(outage):
    for what, answers in outage.reads.items():
        expected = 503 if what == "tenant readiness" else 200  # acme's override: not ready
        assert [status for status, _ in answers] == [expected] * len(answers), (what, answers)
    for _, text in outage.reads["one"]:
        assert json.loads(text) == outage.before
    for _, text in outage.reads["tenant readiness"]:
        assert json.loads(text) == {"tenant": "acme", "status": "not ready",
                                    "reason": "override"}
    assert outage.healthz == 200


def test_readyz_reports_the_failing_store_check_while_writes_are_refused(outage):
    status, body = outage.readyz
    store = next(check for check in body["checks"] if check["name"] == "store")
    assert (status, body["status"], store["ok"]) == (503, "not ready", False), body
    assert store["error"]
    assert outage.store_check_metric == 0


def test_every_write_succeeds_again_once_the_store_is_writable(outage):
    assert outage.after == {200: 48}
    assert outage.readyz_after == 200


def test_the_store_file_is_intact_after_the_outage(outage):
    assert outage.integrity == [("ok",)]

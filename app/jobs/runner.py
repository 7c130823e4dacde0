"""JobRunner: this worker's job threads, a small fixed number whatever the tenants.

JOB_RUNNER_THREADS threads per worker process claim jobs of the kinds registered in
this app, one at a time, from any tenant (app/store/job_leases.py): no thread belongs to
a tenant, so an idle tenant holds none and unloading a tenant stops nothing another one
needs. An idle thread waits JOB_POLL_SECONDS between looks at the store, or less when
this process submits a job. A lease renewer extends the leases of the jobs this process
runs every third of LEASE_SECONDS; a process that dies stops renewing, and its jobs are
taken over once their leases expire.

Started by gunicorn's post_worker_init, or by the first submit of a process without
gunicorn (the test client, the CLI); stopped by Services.close().
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from ..settings import Settings
from ..store import Claim, Store, StoreUnavailable
from .execution import JobExecution
from .kinds import JobKinds

log = logging.getLogger(__name__)

STOP_JOIN_SECONDS = 5.0


class JobRunner:
    def __init__(self, store: Store, settings: Settings, execution: JobExecution,
                 kinds: JobKinds):
        self._store = store
        self._settings = settings
        self._execution = execution
        self.kinds = kinds
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._wakes = 0  # bumped by every wake, so a wake between two looks is not lost
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pid: int | None = None
        # One thread of this process claims at a time: claims are writes, and idle
        # threads racing for one new job would only queue up on the store's write lock
        # (in front of the requests' own writes).
        self._claiming = threading.Lock()
        self._held: dict[str, Claim] = {}  # lease token -> the claim this process runs
        self._running: dict[str, int] = {}  # tenant -> jobs this process runs for it
        self._share = max(1, settings.job_runner_threads // 2)

    # -- submitting ----------------------------------------------------------------------
    def submit(self, tenant: str, workspace: str, kind: str, payload: Any,
               job_id: str | None = None) -> str:
        """Record a queued job (inside the caller's write, if one is open); its id."""
        self.kinds.get(kind)  # UnknownJobKind before anything is written
        payload_json = json.dumps(payload)  # TypeError / ValueError: not JSON
        job_id = job_id or uuid.uuid4().hex
        self.start()
        self._store.jobs.submit(job_id, tenant, workspace, kind, payload_json, time.time(),
                                on_commit=self.wake)
        return job_id

    def wake(self, everyone: bool = False) -> None:
        """One idle thread looks for jobs now (one job was committed), or all of them."""
        with self._wake:
            self._wakes += 1
            if everyone:
                self._wake.notify_all()
            else:
                self._wake.notify()

    # -- threads -------------------------------------------------------------------------
    def start(self) -> None:
        """Start this process's threads, once (again in a forked child)."""
        if self._pid == os.getpid() or self._stop.is_set():
            return
        with self._lock:
            if self._pid == os.getpid() or self._stop.is_set():
                return
            self._pid, self._held, self._running = os.getpid(), {}, {}
            owner = f"{socket.gethostname()}:{os.getpid()}"
            self._threads = [
                threading.Thread(target=self._run, args=(f"{owner}:{index}",), daemon=True,
                                 name=f"tenant-jobs-{index}")
                for index in range(self._settings.job_runner_threads)]
            self._threads.append(threading.Thread(target=self._renew, daemon=True,
                                                  name="tenant-jobs-leases"))
            for thread in self._threads:
                thread.start()

    def stop(self) -> bool:
        """Stop the threads; jobs still running are given back for another worker to run
        at once (their outcome, should it come, is no longer recorded). True when every
        thread is gone."""
        self._stop.set()
        self.wake(everyone=True)
        deadline = time.monotonic() + STOP_JOIN_SECONDS
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = list(self._held.values())
        for claim in left:
            self._give_back(claim)
        return not any(t.is_alive() for t in self._threads)

    def threads(self) -> list[threading.Thread]:
        return list(self._threads)

    def _run(self, owner: str) -> None:
        while not self._stop.is_set():
            wakes = self._wakes
            claim = None
            if self._claiming.acquire(blocking=False):
                try:
                    claim = self._claim(owner)
                except StoreUnavailable as exc:
                    log.warning("job runner: cannot claim: %s", exc)
                finally:
                    self._claiming.release()
            if claim is None:
                with self._wake:
                    if self._wakes == wakes and not self._stop.is_set():
                        self._wake.wait(self._settings.job_poll_seconds)
                continue
            self.wake()  # there may be more: the next idle thread claims it meanwhile
            self._run_claim(claim)

    def _claim(self, owner: str) -> Claim | None:
        """The next job for this thread. A tenant already running its share of this
        worker's job threads (half of them) is passed over while another tenant's job is
        waiting, so one tenant's slow or hanging handlers leave threads for the others;
        when no other job waits, it may use them all."""
        kinds, now = self.kinds.names(), time.time()
        if not kinds or not self._store.jobs.runnable(kinds, now):
            return None
        passed_over: list[str] = []
        claim = self._claim_once(owner, kinds, now, passed_over, strict=True)
        if claim is None and passed_over:
            claim = self._claim_once(owner, kinds, now, [], strict=False)
        return claim

    def _claim_once(self, owner: str, kinds: list[str], now: float, passed_over: list[str],
                    strict: bool) -> Claim | None:
        admitted: list[tuple[str, Any]] = []

        def admit(tenant: str, kind: str, job_id: str):
            with self._lock:
                if strict and self._running.get(tenant, 0) >= self._share:
                    passed_over.append(tenant)
                    return None
            permit = self._execution.admit(tenant, kind, job_id)
            if permit is not None:
                with self._lock:
                    self._running[tenant] = self._running.get(tenant, 0) + 1
                admitted.append((tenant, permit))
            return permit

        claim = None
        try:
            claim = self._store.job_leases.claim(
                kinds, owner, now, self._settings.lease_seconds,
                self._settings.job_max_attempts, admit)
        finally:
            for tenant, permit in admitted:  # a claim that did not commit gives it back
                if claim is None or permit is not claim.permit:
                    permit.__exit__(None, None, None)
                    self._done_running(tenant)
        return claim

    def _run_claim(self, claim: Claim) -> None:
        with self._lock:
            self._held[claim.token] = claim
        try:
            self._execution.run(claim)
        except StoreUnavailable as exc:  # its outcome is not recorded: the lease expires
            log.warning("job %s: outcome not recorded: %s", claim.job_id, exc)
        finally:
            with self._lock:
                self._held.pop(claim.token, None)
            self._done_running(claim.tenant_id)

    def _done_running(self, tenant: str) -> None:
        with self._lock:
            left = self._running.get(tenant, 0) - 1
            if left > 0:
                self._running[tenant] = left
            else:
                self._running.pop(tenant, None)  # idle tenants leave nothing behind

    def _renew(self) -> None:
        interval = self._settings.lease_seconds / 3
        while not self._stop.wait(interval):
            with self._lock:
                tokens = list(self._held)
            try:
                self._store.job_leases.renew(tokens, time.time() + self._settings.lease_seconds)
            except StoreUnavailable as exc:
                log.warning("job leases not renewed: %s", exc)

    def _give_back(self, claim: Claim) -> None:
        try:
            self._store.job_leases.release(claim, time.time(), 0.0)
        except StoreUnavailable as exc:
            log.warning("job %s not given back (its lease will expire): %s", claim.job_id, exc)

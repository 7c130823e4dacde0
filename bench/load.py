"""Load generation against 127.0.0.1 only: wrk (installed with apt-get if missing), or a
Python fallback that reports its own CPU use so it can be seen not to be the bottleneck."""
from __future__ import annotations

import http.client
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua" / "tenants.lua"
CONNECTIONS = 16
APT_TIMEOUT = 300


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # connection errors, timeouts and non-2xx/3xx answers
    seconds: float
    generator: str
    generator_cpu: float | None = None  # cores used by the Python generator itself
    refused: int = 0  # of the errors, answers with a status of 400 or more
    # The server's workers' CPU time (user + system) per request, when it was read.
    worker_cpu_ms: float | None = None

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests if self.requests else float("nan")

    def as_dict(self) -> dict:
        return asdict(self)


def ensure_wrk() -> str | None:
    """Path to wrk, installing the Debian package first if it is missing."""
    found = shutil.which("wrk")
    if found or shutil.which("apt-get") is None or os.geteuid() != 0:
        return found
    print("wrk not found: installing it with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=120", "wrk"]):
        try:
            subprocess.run(command, env=env, check=True, timeout=APT_TIMEOUT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            print(f"apt-get failed ({exc}); using the Python load generator", flush=True)
            return shutil.which("wrk")
    return shutil.which("wrk")


class Load:
    """Runs one timed load: ``paths`` ("{t}" = a random tenant of ``tenants``)."""

    def __init__(self, wrk: str | None, connections: int = CONNECTIONS):
        self.wrk = wrk
        self.connections = connections

    def run(self, port: int, paths: list[str], seconds: float, tenants: int = 0,
            method: str = "GET", api_key: str | None = None, flip_ready: bool = False,
            prefix: str = "bench-", close: bool = False) -> LoadResult:
        """``close``: one connection per request (no keep-alive)."""
        if self.wrk:
            return self._wrk(port, paths, seconds, tenants, method, api_key, flip_ready, prefix,
                             close)
        return python_load(port, paths, seconds, tenants, method, api_key, flip_ready, prefix,
                           self.connections, close)

    def _wrk(self, port, paths, seconds, tenants, method, api_key, flip_ready, prefix,
             close) -> LoadResult:
        env = {**os.environ, "BENCH_PATHS": "|".join(paths), "BENCH_TENANTS": str(tenants),
               "BENCH_PREFIX": prefix, "BENCH_METHOD": method,
               "BENCH_BODY": "ready-flip" if flip_ready else "", "BENCH_CLOSE": str(int(close))}
        if api_key:
            env["BENCH_API_KEY"] = api_key
        command = [self.wrk, "-t1", f"-c{self.connections}", f"-d{seconds:g}s", "--timeout",
                   "10s", "-s", str(LUA), f"http://127.0.0.1:{port}"]
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=seconds + 60, check=True)
        line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON "))
        data = json.loads(line[len("BENCH_JSON "):])
        wall = data["duration_us"] / 1e6
        errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors",
                                       "status_errors", "timeouts"))
        return LoadResult(rps=data["requests"] / wall, p50_ms=data["p50_us"] / 1000,
                          p99_ms=data["p99_us"] / 1000, requests=data["requests"],
                          errors=errors, seconds=wall, generator="wrk",
                          refused=data["status_errors"])


def python_load(port: int, paths: list[str], seconds: float, tenants: int, method: str,
                api_key: str | None, flip_ready: bool, prefix: str,
                connections: int, close: bool = False) -> LoadResult:
    """The fallback: keep-alive connections in threads, for a fixed time."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    refused = [0] * connections
    deadline = time.perf_counter() + seconds
    headers = {"X-API-Key": api_key} if api_key else {}
    if flip_ready:
        headers["Content-Type"] = "application/json"
    if close:
        headers["Connection"] = "close"

    def client(index: int) -> None:
        rng = random.Random(index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sent = 0
        while time.perf_counter() < deadline:
            path = rng.choice(paths).replace("{t}", f"{prefix}{rng.randrange(max(tenants, 1))}")
            sent += 1
            body = (b'{"ready": true}' if sent % 2 else b'{"ready": false}') \
                if flip_ready else None
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
                refused[index] += not ok
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                ok = False
            latencies[index].append(time.perf_counter() - started)
            errors[index] += not ok
        conn.close()

    cpu_before, wall_before = _cpu_seconds(), time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    wall = time.perf_counter() - wall_before
    every = sorted(x for per in latencies for x in per)
    return LoadResult(rps=len(every) / wall, p50_ms=_percentile(every, 50) * 1000,
                      p99_ms=_percentile(every, 99) * 1000, requests=len(every),
                      errors=sum(errors), seconds=wall, generator="python",
                      generator_cpu=(_cpu_seconds() - cpu_before) / wall, refused=sum(refused))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def spread(values: list[float]) -> dict:
    """Median with min, max and the interquartile range."""
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return {"median": None, "min": None, "max": None, "iqr": None, "n": 0}
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "iqr": [quartiles[0], quartiles[2]], "n": len(values), "values": values}

"""config/nginx.conf in front of a real gunicorn: slow clients held by nginx never delay
other clients (contract sec. 17), where the same clients straight to gunicorn hold every
thread. Also: nginx accepts the shipped file, adjusted as docs/deployment.md says."""
from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.deployment import nginx as nginx_module
from tests.deployment.conftest import THREADS, WORKERS
from tests.deployment.connections import accepted_by
from tests.deployment.nginx import Nginx, check_config, require_nginx
from tests.deployment.slow_clients import SLOWLORIS, SlowClients
from tests.support.polling import poll
from tests.support.raw_http import HEALTHZ, read_answer
from tests.support.server import Server

# Each group alone is more than WORKERS * THREADS: straight to gunicorn, either one would
# hold every request thread.
SLOWLORIS_CLIENTS, SLOW_UPLOADS = 40, 16
ROUNDS = 5
SERVED_WITHIN = 3.0      # seconds; generous for a busy machine (unloaded: about 10 ms)
BLOCKED_FOR = 5.0        # the control: gunicorn alone does not answer within this
SETTLES_WITHIN = 20.0    # bound on waiting for the slow clients to be in place, or gone


# -- nginx alone ----------------------------------------------------------------------------

@pytest.mark.parametrize("per_address_limits", [False, True],
                         ids=["as-shipped", "per-address-limits-on"])
def test_nginx_accepts_the_shipped_config(tmp_path, per_address_limits):
    result = check_config(tmp_path, per_address_limits)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


@pytest.mark.parametrize("ci, outcome", [
    ("true", pytest.fail.Exception),
    (None, pytest.skip.Exception),
    ("false", pytest.skip.Exception),
])
def test_missing_nginx_fails_only_under_ci(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setattr(nginx_module, "NGINX", tmp_path / "no-nginx")
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome):
        require_nginx()


# -- nginx in front of gunicorn -------------------------------------------------------------

# What other clients do while the slow ones are held: (method, path, kwargs, status, body).
OTHER_CLIENTS = [
    ("GET", "/healthz", {}, 200, {"status": "ok"}),
    ("GET", "/readyz", {}, 200, {"status": "ready"}),
    ("GET", "/t/acme/health", {}, 200, {"status": "ok", "tenant": "acme"}),
    ("POST", "/t/acme/uploads", {"files": {"file": ("probe.txt", b"probe")}}, 202,
     {"state": "queued", "tenant": "acme", "size": 5}),
]


def served_in(nginx: Nginx, method: str, path: str, kwargs: dict, status: int,
              body: dict) -> float:
    """Seconds the request took through nginx; fails unless it got its normal answer."""
    started = time.monotonic()
    try:
        response = requests.request(method, nginx.url(path), timeout=SERVED_WITHIN, **kwargs)
    except requests.Timeout:
        pytest.fail(f"{method} {path} through nginx: no answer within {SERVED_WITHIN}s")
    elapsed = time.monotonic() - started
    assert response.status_code == status, response.text
    assert response.json().items() >= body.items()
    assert elapsed < SERVED_WITHIN, f"{method} {path} took {elapsed:.2f}s"
    return elapsed


def holds(nginx: Nginx, attack: SlowClients) -> bool:
    """Whether nginx holds every slow client: the slowloris reading their header, the slow
    uploads (and the status request asking) past it, reading a body."""
    def in_place(counts: dict[str, int]) -> bool:
        return counts["reading"] >= SLOWLORIS_CLIENTS and counts["writing"] > SLOW_UPLOADS
    return in_place(poll(nginx.connections, in_place, seconds=SETTLES_WITHIN))


@pytest.mark.gunicorn
def test_slow_clients_held_by_nginx_never_delay_other_clients(deployment):
    nginx = deployment.nginx
    with SlowClients(nginx.port, SLOWLORIS_CLIENTS, SLOW_UPLOADS, "/t/acme/uploads") as attack:
        assert holds(nginx, attack), nginx.connections()
        latencies: dict[str, list[float]] = {f"{m} {p}": [] for m, p, *_ in OTHER_CLIENTS}
        for _ in range(ROUNDS):
            for method, path, kwargs, status, body in OTHER_CLIENTS:
                latencies[f"{method} {path}"].append(
                    served_in(nginx, method, path, kwargs, status, body))
        # The slow clients were held all along: none was answered or cut for good.
        assert poll(attack.held, lambda n: n == attack.total) == attack.total
        assert holds(nginx, attack), nginx.connections()
        total = attack.total
    print(f"\nthrough nginx, {total} slow connections open ({attack.reopened} cut by "
          f"client_header_timeout and reopened): "
          + ", ".join(f"{name} max {max(v) * 1000:.0f} ms" for name, v in latencies.items()))


def hold_every_worker(server: Server, attack: SlowClients) -> list[int]:
    """Wait until each worker has accepted at least THREADS slow connections, opening more
    while one has fewer (each connection goes to whichever worker accepts it first);
    returns how many each holds. Then all its threads are held, and the next connection
    waits behind them."""
    def every_thread(held: list[int]) -> bool:
        return len(held) == WORKERS and min(held) >= THREADS

    def held_per_worker() -> list[int]:
        ports = attack.client_ports()
        held = sorted(len(peers & ports)
                      for peers in accepted_by(server.worker_pids(), server.port).values())
        if not every_thread(held) and sum(held) == len(ports):
            attack.add(SLOWLORIS, 1)  # every one accepted, and still a worker has room
        return held

    held = poll(held_per_worker, every_thread, SETTLES_WITHIN)
    assert every_thread(held), f"slow connections held per worker: {held}"
    return held


@pytest.mark.gunicorn
def test_the_same_slow_clients_straight_to_gunicorn_block_it_until_they_close(deployment):
    """The control: without nginx these slow clients hold every thread, so the test above
    would catch a proxy that does not buffer."""
    server = deployment.server
    with SlowClients(server.port, SLOWLORIS_CLIENTS, SLOW_UPLOADS, "/t/acme/uploads") as attack:
        per_worker = hold_every_worker(server, attack)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as probe:
            probe.sendall(HEALTHZ + b"\r\n")
            probe.settimeout(BLOCKED_FOR)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                probe.recv(1)  # not one byte of an answer while every thread is held
            blocked = time.monotonic() - started
            assert attack.held() == attack.total
            attack.close()
            closed = time.monotonic()
            probe.settimeout(SETTLES_WITHIN)
            answer = read_answer(probe)
    assert answer.whole, answer.raw
    assert (answer.status, answer.json()) == (200, {"status": "ok"})
    print(f"\nstraight to gunicorn: /healthz blocked {blocked:.1f}s with {sum(per_worker)} slow "
          f"connections (per worker: {per_worker}), answered "
          f"{time.monotonic() - closed:.2f}s after they closed")

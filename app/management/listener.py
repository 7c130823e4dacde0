"""The management listener: /healthz, /readyz, /readyz/<check> and /metrics on threads of
their own, so probes and scrapes answer while every traffic thread is busy.

The master binds MANAGEMENT_BIND once, before forking (a second server on the same
address fails to start, as it would on the traffic port); every worker then serves
that socket from a few threads of its own, running the same app and so giving the
same codes and bodies as the traffic port. Tenant traffic never reaches these
threads: any other path is a 404.
"""
from __future__ import annotations

import json
import logging
import select
import socket
import threading
from typing import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ..settings import parse_address

log = logging.getLogger(__name__)

# A client that stops sending is dropped after this long: probes are quick and local.
READ_TIMEOUT_SECONDS = 2.0
# How often an idle serving thread looks up from accept() to see whether it should stop.
POLL_SECONDS = 0.5
PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METHODS = frozenset({"GET", "HEAD"})

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def bind_management_socket(address: str) -> socket.socket:
    """The listening socket, bound in the master; OSError when the address is taken."""
    host, port = parse_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=128)
    # Every worker's threads wait with select() and accept without blocking: the socket
    # (one description shared by all workers) stays in one mode for all of them.
    sock.setblocking(False)
    return sock


def management_only(app: WsgiApp) -> WsgiApp:
    """The app, for the management paths only; anything else is a JSON 404 or 405."""
    def serve(environ: dict, start_response: Callable):
        path = environ.get("PATH_INFO", "")
        known = path in PATHS or (path.startswith("/readyz/") and path.count("/") == 2)
        if not known:
            return _json(start_response, "404 Not Found", {"error": "not_found"})
        if environ.get("REQUEST_METHOD") not in METHODS:
            return _json(start_response, "405 Method Not Allowed",
                         {"error": "method_not_allowed"}, [("Allow", "GET, HEAD")])
        return app(environ, start_response)
    return serve


def _json(start_response: Callable, status: str, body: dict, headers=()) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data))), *headers])
    return [data]


class _Handler(WSGIRequestHandler):
    timeout = READ_TIMEOUT_SECONDS

    def log_message(self, format: str, *args) -> None:
        # Probes come every few seconds: one debug line each, never the request headers.
        log.debug("management %s", args[0] if args else format)


class ManagementServer:
    """Serves the management paths of ``app`` on ``sock`` from ``threads`` daemon threads."""

    def __init__(self, sock: socket.socket, app: WsgiApp, threads: int = 2):
        self._sock = sock
        self._threads = threads
        self._stop = threading.Event()
        self._running: list[threading.Thread] = []
        host, port = sock.getsockname()[:2]
        # wsgiref's server only supplies the handler with its environ and app here: it never
        # binds or listens (the socket is the master's).
        self._server = WSGIServer((host, port), _Handler, bind_and_activate=False)
        self._server.socket.close()
        self._server.socket = sock
        self._server.server_name, self._server.server_port = str(host), port
        self._server.setup_environ()
        self._server.set_app(management_only(app))

    def start(self) -> None:
        for index in range(self._threads):
            thread = threading.Thread(target=self._serve, daemon=True,
                                      name=f"management-{index}")
            thread.start()
            self._running.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop this process's serving threads; the socket stays open for the others."""
        self._stop.set()
        for thread in self._running:
            thread.join(timeout)

    def _serve(self) -> None:
        poller = select.poll()  # not select(): a worker's descriptors may pass 1024
        poller.register(self._sock, select.POLLIN)
        while not self._stop.is_set():
            try:
                if not poller.poll(POLL_SECONDS * 1000):
                    continue
                conn, address = self._sock.accept()
            except BlockingIOError:
                continue  # another worker took this connection first
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.warning("management listener: accept failed: %s", exc)
                self._stop.wait(POLL_SECONDS)  # e.g. out of file descriptors: do not spin
                continue
            self._handle(conn, address)

    def _handle(self, conn: socket.socket, address) -> None:
        try:
            conn.setblocking(True)
            self._server.finish_request(conn, address)
        except OSError as exc:  # the client went away mid-request
            log.debug("management request from %s ended: %s", address, exc)
        finally:
            self._server.shutdown_request(conn)

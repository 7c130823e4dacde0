"""Raw HTTP/1.1 over a socket: requests no client library tidies up, answers read as sent."""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def read_answer(sock: socket.socket) -> Answer:
    """One HTTP/1.1 answer with a Content-Length.

    Read by its length, not until the connection closes: after refusing a request whose
    body it will not read, nginx keeps the connection open a while (lingering close), then
    resets it.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a whole answer header: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the whole body: {data!r}"
        body += chunk
    return Answer(int(status_line.split()[1]), headers, body)


def exchange(port: int, request: bytes, timeout: float = 10.0) -> Answer:
    """Send raw bytes (no client library to tidy them up) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_answer(sock)

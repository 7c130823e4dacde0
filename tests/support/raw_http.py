"""Raw HTTP/1.1 over a socket: requests exactly as written, which no client library would
send, and answers read as they came off the wire."""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field

READ_TIMEOUT = 15.0
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"


@dataclass
class Answer:
    """One response as it came off the wire; ``status`` 0 when nothing came back."""

    raw: bytes
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    closed: bool = False  # the server closed the connection after this answer

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.raw.decode("latin-1")

    @property
    def whole(self) -> bool:
        """A status line, headers and every byte of the body its Content-Length announces."""
        return self.status != 0 and "content-length" in self.headers \
            and len(self.body) == int(self.headers["content-length"])


def parse(raw: bytes) -> Answer:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return Answer(raw)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return Answer(raw, int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0,
                  headers, rest[:length])


def exchange(port: int, data: bytes, end_input: bool = False, then: bytes | None = None,
             timeout: float = READ_TIMEOUT) -> Answer:
    """Send ``data``, read one answer; ``end_input`` closes our side first (a client gone
    mid-request). ``then`` is a second request sent on the same connection after the
    answer: ``closed`` tells whether the server refused to read it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if end_input:
            sock.shutdown(socket.SHUT_WR)
        answer = read_answer(sock)
        if then is not None and not end_input:
            try:
                sock.sendall(then)
                answer.closed = _read_final(sock) == b""
            except (ConnectionResetError, BrokenPipeError):
                answer.closed = True
        return answer


def read_answer(sock: socket.socket) -> Answer:
    """One final answer, read by its Content-Length, not until the connection closes:
    after refusing a request whose body it will not read, nginx keeps the connection open
    a while (lingering close), then resets it."""
    return parse(_read_final(sock))


def _read_final(sock: socket.socket) -> bytes:
    """Bytes up to the end of one final response (by Content-Length), or to the connection's
    end; interim 1xx responses (100 Continue) before it are skipped."""
    raw = b""
    while True:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if sep:
            answer = parse(raw)
            if 100 <= answer.status < 200:
                raw = rest
                continue
            if "content-length" in answer.headers and \
                    len(rest) >= int(answer.headers["content-length"]):
                return raw
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return raw
        if not chunk:
            return raw
        raw += chunk


def request(method: str, path: str, headers: list[str] | None = None, body: bytes = b"",
            version: str = "HTTP/1.1") -> bytes:
    """A request head (and body) from header lines given verbatim."""
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1", *(headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(method: str, path: str, chunks: bytes, headers: list[str] | None = None) -> bytes:
    """A request whose body is ``chunks``: the chunked encoding exactly as given."""
    return request(method, path, ["Transfer-Encoding: chunked", *(headers or [])], chunks)

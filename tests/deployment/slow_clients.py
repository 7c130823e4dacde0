"""Slow clients: connections that send their request one byte at a time and so hold them.

Two kinds, as an attacker without any key would send them: slowloris (a request header
that never ends) and a slow upload (a whole header, then a multipart body at one byte per
interval). A connection the server closes is opened again at once, as an attacker would.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

SLOWLORIS, UPLOAD = "slowloris", "upload"
# A header line that never ends within the test: 3,000 bytes at one byte per interval.
_SLOWLORIS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 3000
_BOUNDARY = b"slowclientboundary"
_BODY = (b"--" + _BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"file\"; "
         b"filename=\"slow.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
         + b"a" * 100_000 + b"\r\n--" + _BOUNDARY + b"--\r\n")


def _upload_header(path: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary={_BOUNDARY.decode()}\r\n"
            f"Content-Length: {len(_BODY)}\r\n\r\n").encode()


@dataclass
class _Connection:
    kind: str
    sock: socket.socket
    payload: bytes
    sent: int

    def step(self) -> bool:
        """Send one more byte; False once the server has answered or closed it."""
        if not self.unanswered():
            return False
        try:
            self.sock.send(self.payload[self.sent:self.sent + 1])
        except OSError:  # reset or broken pipe: the server closed it
            return False
        self.sent += 1
        return True

    def unanswered(self) -> bool:
        """Open, with not one byte of an answer."""
        try:
            self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True  # nothing to read: the server still waits for the rest
        except OSError:
            return False  # reset
        return False  # b"" (closed) or the first byte of an answer


@dataclass
class SlowClients:
    """``headers`` slowloris and ``bodies`` slow uploads to ``upload_path``, on ``port``."""
    port: int
    headers: int
    bodies: int
    upload_path: str
    interval: float = 1.0
    # Between two connects: a burst would be accepted by whichever gunicorn worker happens
    # to be awake, a paced attack reaches every worker.
    gap: float = 0.01
    reopened: int = 0
    _connections: list[_Connection] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _pacer: threading.Thread | None = None

    @property
    def total(self) -> int:
        return len(self._connections)

    def __enter__(self) -> "SlowClients":
        try:
            self.add(SLOWLORIS, self.headers)
            self.add(UPLOAD, self.bodies)
        except OSError:
            self.close()
            raise
        self._pacer = threading.Thread(target=self._pace, name="slow-clients", daemon=True)
        self._pacer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, kind: str, count: int) -> None:
        """Open ``count`` more connections of ``kind``."""
        for _ in range(count):
            connection = self._open(kind)
            with self._lock:
                self._connections.append(connection)
            time.sleep(self.gap)  # paces the connects; nothing is timed by it

    def held(self) -> int:
        """How many connections are open right now with no answer."""
        with self._lock:
            return sum(1 for c in self._connections if c.unanswered())

    def client_ports(self) -> set[int]:
        with self._lock:
            return {c.sock.getsockname()[1] for c in self._connections if c.sock.fileno() != -1}

    def close(self) -> None:
        self._stop.set()
        if self._pacer is not None:
            self._pacer.join(10)
        with self._lock:
            for connection in self._connections:
                connection.sock.close()
            self._connections = []

    def _open(self, kind: str) -> _Connection:
        """Connect and send the first byte (a slowloris) or the header and one body byte."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        # Blocking from here on: a socket with a timeout would wait inside every peek.
        sock.settimeout(None)
        if kind == SLOWLORIS:
            connection = _Connection(kind, sock, _SLOWLORIS, 0)
        else:
            header = _upload_header(self.upload_path)
            connection = _Connection(kind, sock, header + _BODY, len(header))
            sock.sendall(header)
        connection.step()
        return connection

    def _pace(self) -> None:
        # The pause paces the senders (one byte per interval); nothing is timed by it.
        while not self._stop.wait(self.interval):
            with self._lock:
                for index, connection in enumerate(self._connections):
                    if connection.step():
                        continue
                    connection.sock.close()
                    try:
                        self._connections[index] = self._open(connection.kind)
                    except OSError:  # the server is not accepting: try again next interval
                        continue
                    self.reopened += 1

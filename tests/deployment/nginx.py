"""Run the Debian nginx with config/nginx.conf on 127.0.0.1, in a temporary directory.

The shipped file is used as docs/deployment.md tells operators to: included inside the
http {} of a main nginx.conf (written here, in place of the distribution's), with the
first argument of each line marked ADJUST replaced, and nothing else changed.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.polling import wait_until
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "nginx.conf"
NGINX = Path("/usr/sbin/nginx")
START_TIMEOUT = 10.0

# A line marked ADJUST: its directive, its first argument, and the rest (kept as it is).
_ADJUST = re.compile(
    r"^(?P<indent>\s*)(?P<directive>\S+)\s+(?P<first>[^\s;]+)(?P<rest>.*# ADJUST.*)$")
# The commented-out per-address limits of the shipped file.
_OPTION = re.compile(r"^(\s*)#(limit_conn|limit_req) ", re.MULTILINE)


def require_nginx() -> Path:
    """nginx's path; without it: skip on a developer's machine, fail under CI=true."""
    if not os.access(NGINX, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{NGINX} is missing and CI=true: CI must install it "
                        "(Debian: apt-get install nginx-light)")
        pytest.skip(f"{NGINX} is missing, so the deployment behind nginx is not checked: "
                    "install it (Debian: apt-get install nginx-light); under CI=true this "
                    "is a failure")
    return NGINX


def adjusted_site(listen: str, upstream: str, access_log: Path,
                  per_address_limits: bool = False) -> str:
    """config/nginx.conf with the ADJUST lines' first arguments replaced."""
    values = {"listen": listen, "server": upstream, "access_log": str(access_log)}
    adjusted = []
    lines = []
    for line in SHIPPED.read_text().splitlines():
        match = _ADJUST.match(line)
        if match:
            directive = match["directive"]
            adjusted.append(directive)
            line = f"{match['indent']}{directive} {values[directive]}{match['rest']}"
        lines.append(line)
    assert sorted(adjusted) == sorted(values), f"ADJUST lines in {SHIPPED}: {adjusted}"
    text = "\n".join(lines) + "\n"
    if per_address_limits:
        text, enabled = _OPTION.subn(r"\1\2 ", text)
        assert enabled == 2, f"commented per-address limits in {SHIPPED}: {enabled}"
    return text


def main_config(prefix: Path, site: Path, status_port: int) -> str:
    """What a distribution's nginx.conf provides, with every path under ``prefix``."""
    # As root, nginx's workers would switch to "nobody", who cannot enter pytest's
    # private temporary directories: keep them as the user running the tests.
    user = ""
    if os.geteuid() == 0:
        user = (f"user {pwd.getpwuid(os.geteuid()).pw_name} "
                f"{grp.getgrgid(os.getegid()).gr_name};")
    temp = "\n".join(f"    {kind}_temp_path {prefix / 'temp' / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""\
daemon off;
{user}
worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} info;
events {{
    worker_connections 1024;
}}
http {{
{temp}
    include {site};
    # How many connections nginx holds, for the tests (stub_status).
    server {{
        listen 127.0.0.1:{status_port};
        access_log off;
        location = /status {{ stub_status; }}
    }}
}}
"""


def write_config(prefix: Path, upstream_port: int, listen_port: int,
                 per_address_limits: bool = False) -> tuple[Path, int]:
    """Write the main config and the adjusted site under ``prefix``: (main path, status port)."""
    (prefix / "temp").mkdir(parents=True, exist_ok=True)
    site = prefix / "tenantgate.conf"
    site.write_text(adjusted_site(f"127.0.0.1:{listen_port}", f"127.0.0.1:{upstream_port}",
                                  prefix / "access.log", per_address_limits))
    status_port = free_port()
    main = prefix / "nginx.conf"
    main.write_text(main_config(prefix, site, status_port))
    return main, status_port


def check_config(prefix: Path, per_address_limits: bool = False) -> subprocess.CompletedProcess:
    """``nginx -t`` on the shipped file, adjusted as the docs say."""
    main, _ = write_config(prefix, upstream_port=8000, listen_port=free_port(),
                           per_address_limits=per_address_limits)
    return subprocess.run([str(require_nginx()), "-t", "-p", str(prefix), "-c", str(main)],
                          capture_output=True, text=True, timeout=30)


@dataclass
class Nginx:
    process: subprocess.Popen
    prefix: Path
    port: int
    status_port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        parts = [self.prefix / "stdout.log", self.prefix / "error.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def connections(self) -> dict[str, int]:
        """stub_status: active connections, and those reading a header, writing, waiting."""
        text = requests.get(f"http://127.0.0.1:{self.status_port}/status", timeout=5).text
        numbers = {name.lower(): int(value)
                   for name, value in re.findall(r"(\w+): (\d+)", text)}
        numbers["active"] = int(re.search(r"Active connections: (\d+)", text)[1])
        return numbers

    def wait_ready(self) -> None:
        if not wait_until(self._ready, START_TIMEOUT):
            raise RuntimeError(f"nginx did not answer within {START_TIMEOUT}s:\n{self.log()}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.log()}")
        try:
            self.connections()
            return True
        except requests.ConnectionError:
            return False  # not listening yet

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: slow clients are cut
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # master and its workers
                self.process.wait(5)


def start_nginx(prefix: Path, upstream_port: int, per_address_limits: bool = False) -> Nginx:
    """nginx in front of ``upstream_port``, as a foreground process with its files in ``prefix``."""
    port = free_port()
    main, status_port = write_config(prefix, upstream_port, port, per_address_limits)
    with open(prefix / "stdout.log", "wb") as out:
        process = subprocess.Popen(
            [str(require_nginx()), "-p", str(prefix), "-c", str(main)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    nginx = Nginx(process, prefix, port, status_port)
    try:
        nginx.wait_ready()
    except RuntimeError:
        nginx.stop()
        raise
    return nginx

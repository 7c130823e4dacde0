"""A throwaway PostgreSQL server from the Debian ``postgresql`` binaries, for tests.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres``
system user (runuser). It listens on 127.0.0.1 on a free port, in a temporary
directory, and is stopped (and deleted) by the fixture that started it.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from .polling import wait_until
from .server import free_port


def pg_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--"] + cmd


class PostgresServer:
    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="tenantgate-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        subprocess.run(_as_postgres([str(self.bin_dir / "initdb"), "-D", str(self.data),
                                     "-A", "trust", "-U", "postgres", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)

    def start(self, timeout: float = 30.0) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 " \
                  "-c max_connections=200"
        subprocess.run(_as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
                                     "-o", options, "-l", str(self.root / "log"), "-w",
                                     "-t", str(int(timeout)), "start"]),
                       check=True, capture_output=True, timeout=timeout + 10)
        if not wait_until(self._answers, timeout):
            psycopg.connect(self.admin_url, connect_timeout=2).close()  # raises why it does not

    def _answers(self) -> bool:
        try:
            psycopg.connect(self.admin_url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False  # not accepting connections yet
        return True

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
                                     "-m", mode, "-w", "stop"]),
                       capture_output=True, timeout=60)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

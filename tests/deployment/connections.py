"""Which process holds which accepted TCP connection, read from /proc (Linux, IPv4)."""
from __future__ import annotations

import os
from pathlib import Path

_ESTABLISHED = "01"


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)  # "0100007F:1F90": hex address, hex port


def accepted_by(pids: list[int], port: int) -> dict[int, set[int]]:
    """For each process, the client ports of the connections to ``port`` it has accepted.

    A connection still in the listen backlog belongs to no process yet.
    """
    client_port_by_inode = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state == _ESTABLISHED and _port(local) == port:
            client_port_by_inode[f"socket:[{inode}]"] = _port(remote)
    held = {}
    for pid in pids:
        ports = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except FileNotFoundError:  # closed since the directory was listed
                continue
            if target in client_port_by_inode:
                ports.add(client_port_by_inode[target])
        held[pid] = ports
    return held

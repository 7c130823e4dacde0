"""What a refused request must leave as it was, read from a real server and its data root."""
from __future__ import annotations

import hashlib
from pathlib import Path

from tests.support.metrics_text import samples


def files(root: Path) -> dict[str, str]:
    """Every path under ``root``: a directory as "dir", a file as the sha256 of its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = f"link:{path.readlink()}"
        elif path.is_dir():
            found[key] = "dir"
        elif path.is_file():
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[key] = "special"
    return found


def server_errors(server) -> dict:
    """Every 5xx the app counted, by labels."""
    text = server.get("/metrics").text
    return {labels: count for (name, labels), count in samples(text).items()
            if name == "flask_http_request_total" and dict(labels).get("status", "")[:1] == "5"}


def tenants(server, headers: dict) -> list[dict]:
    listing = server.get("/admin/tenants", headers=headers)
    assert listing.status_code == 200, listing.text
    found = listing.json()["tenants"]
    for tenant in found:
        # When a worker first builds a tenant it validates it again: a time, not a change.
        tenant["health"].pop("last_checked_at", None)
    return found


def snapshot(server, root: Path, headers: dict) -> dict:
    return {"tenants": tenants(server, headers), "files": files(root),
            "server_errors": server_errors(server)}

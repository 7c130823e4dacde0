"""A real server for hostile requests, and what a refused request must leave as it was."""
from __future__ import annotations

import hashlib
import io
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.support.metrics_text import samples
from tests.support.polling import poll
from tests.support.server import running_server


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


# -- a real gunicorn seeded with one tenant, for the hostile-request modules ---------------------
ADMIN_KEY = "wire-admin-key-3c9e51d7"
API_KEY = "wire-api-key-8a02f4b6"
ADMIN = {"X-Admin-Key": ADMIN_KEY}
ENV = {"TENANT_ADMIN_KEY": ADMIN_KEY, "TENANT_API_KEY": API_KEY, "MAX_JSON_BYTES": "4096"}
POLL_SECONDS = 10.0


@contextmanager
def seeded_server(sandbox: Path, env: dict | None = None, **kwargs) -> Iterator:
    """gunicorn (2 workers) with tenant acme and one processed upload; at the end its log
    holds neither key nor a traceback."""
    with running_server(sandbox, workers=2, env={**ENV, **(env or {})}, **kwargs) as server:
        assert server.put("/admin/tenants/acme", json={"extra": {"plan": "gold"}},
                          headers=ADMIN).status_code == 201
        uploaded = server.post("/t/acme/uploads",
                               files={"file": ("a.txt", io.BytesIO(b"acme's own bytes"))})
        assert uploaded.status_code == 202, uploaded.text
        wait_upload(server, uploaded.headers["Location"])
        yield server
    log = server.log()
    for key in (ADMIN_KEY, API_KEY):
        assert key not in log
    assert "Traceback" not in log


def wait_upload(server, location: str, headers: dict | None = None) -> dict:
    """Poll an upload until it is done or failed (bounded)."""
    status = poll(lambda: server.get(location, headers=headers).json(),
                  lambda status: status.get("state") in ("done", "failed"), POLL_SECONDS)
    assert status.get("state") in ("done", "failed"), f"upload never processed: {status}"
    return status


def unchanged_check(server, root: Path):
    """Snapshot now; the returned check asserts that nothing changed since."""
    before = snapshot(server, root, ADMIN)

    def check() -> None:
        assert snapshot(server, root, ADMIN) == before
        assert server.get("/healthz").status_code == 200

    return check

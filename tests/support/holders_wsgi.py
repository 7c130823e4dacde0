"""A WSGI app for tests that counts, across every process and host of one machine, how
many requests hold a limit at once: ``POST /t/<t>/count/hold/<limit>?ms=N``.

Inside the normal permit chain it adds one to the holders of the tenant's limit and of the
server-wide one in HOLDERS_FILE (a JSON file shared by every host, changed under an
exclusive ``flock``), keeps the highest count seen, waits ``ms`` and takes one off: the
file's ``max`` is the most holders there ever were at once, whatever the clocks say.
"""
import fcntl
import json
import os
import time
from contextlib import contextmanager

from flask import Blueprint, request

from app import create_app
from app.limits import tenant_limit
from app.runtime.context import current_tenant
from app.runtime.dispatch import register_tenant_blueprint

blueprint = Blueprint("holders", __name__)


@contextmanager
def _counts():
    path = os.environ["HOLDERS_FILE"]
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path) as existing:
                counts = json.load(existing)
        except FileNotFoundError:
            counts = {"now": {}, "max": {}, "admitted": {}}
        yield counts
        with open(path + ".new", "w") as new:
            json.dump(counts, new)
        os.replace(path + ".new", path)


def _enter(names: list[str]) -> None:
    with _counts() as counts:
        for name in names:
            now = counts["now"][name] = counts["now"].get(name, 0) + 1
            counts["max"][name] = max(counts["max"].get(name, 0), now)
            counts["admitted"][name] = counts["admitted"].get(name, 0) + 1


def _leave(names: list[str]) -> None:
    with _counts() as counts:
        for name in names:
            counts["now"][name] -= 1


@blueprint.route("/count/hold/<limit>", methods=["POST"])
def count_hold(limit):
    tenant = current_tenant("holders.count_hold").tenant
    names = [f"tenant:{tenant}:{limit}", f"global:{limit}"]
    with tenant_limit(limit):
        _enter(names)
        try:
            time.sleep(int(request.args["ms"]) / 1000)
        finally:
            _leave(names)
    return {"tenant": tenant, "limit": limit}


app = create_app()
register_tenant_blueprint(app, blueprint)

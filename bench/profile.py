"""Profile one worker with py-spy while wrk loads a route (not part of `make bench`).

    .venv/bin/pip install -e '.[bench]'      # py-spy
    .venv/bin/python -m bench.profile [--path '/t/{t}/health'] [--seconds 20]

Prints the functions with the most samples, inclusive and self, as file:line, and
keeps the folded stacks in bench/results/profile-<route>.txt (flamegraph input).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from .load import Load, ensure_wrk
from .servers import ROOT, ServerPool, create_tenants, tenant_ids
from .cases import BY_KEY, HALF, TENANTS
from .throughput import set_ready

RESULTS = Path(__file__).resolve().parent / "results"
# The cases served by Tenantgate's own server (bench/cases.py), which this script starts.
PROFILED = sorted(case.key for case in BY_KEY.values() if case.server == "main")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def record(pid: int, seconds: float, out: Path) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    # Idle threads are left out by py-spy; threads blocked writing to a socket are not,
    # so summarise() also reports the share of each frame inside the app call alone.
    subprocess.run([py_spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250",
                    "--format", "raw", "-o", str(out)],
                   check=True, capture_output=True, timeout=seconds + 60)


def summarise(folded: Path, top: int = 30, inside: str = "Flask.__call__") -> str:
    """Top frames by samples; the "app" lines count only stacks that went through ``inside``."""
    inclusive, own, app_inclusive, total, app_total = Counter(), Counter(), Counter(), 0, 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_short(frame) for frame in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        if any(frame.startswith(inside + " ") for frame in frames):
            app_total += n
            for frame in set(frames):
                app_inclusive[frame] += n
    lines = [f"{total} samples, {app_total} ({app_total / max(total, 1) * 100:.0f}%) "
             f"inside {inside}"]
    lines.append(f"-- top {top} inclusive, as % of the samples inside {inside} --")
    lines += [f"{n / app_total * 100:5.1f}%  {frame}"
              for frame, n in app_inclusive.most_common(top * 2)
              if frame.split(" ")[-1].startswith(("app/", "flask", "werkzeug", "prometheus",
                                                  "marshmallow", "webargs"))][:top]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"-- top {top} {title} --")
        lines += [f"{n / total * 100:5.1f}%  {frame}" for frame, n in counter.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"].replace(str(ROOT) + "/", "")
    path = re.sub(r".*/site-packages/", "", path)
    return f"{match['func']} {path}:{match['line']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", default="tenant_health", choices=PROFILED)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args(argv)
    case = BY_KEY[args.route]
    paths, options = [case.path], dict(case.load)
    load = Load(ensure_wrk())
    workdir = Path(tempfile.mkdtemp(prefix="tenantgate-profile-"))
    out = RESULTS / f"profile-{args.route}.txt"
    try:
        with ServerPool(workdir) as pool:
            server = pool.tenantgate("profile", {"MAX_TENANT_LABELS": str(2 * TENANTS + 1)})
            create_tenants(server, tenant_ids(TENANTS))
            if case.prefix == HALF:
                half = tenant_ids(TENANTS, HALF)
                create_tenants(server, half)
                set_ready(server, half[1::2], False)
            load.run(server.port, paths, 3, **options)  # warm: every tenant built
            runner = threading.Thread(target=load.run, args=(server.port, paths,
                                                             args.seconds + 2), kwargs=options)
            runner.start()
            record(server.worker_pids()[0], args.seconds, out)
            runner.join(args.seconds + 60)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(summarise(out))
    print(f"folded stacks: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

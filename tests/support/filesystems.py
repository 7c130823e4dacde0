"""A small file system of its own for a test (a tmpfs), where the machine allows mounting one."""
from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


@contextmanager
def small_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (mount(8) syntax, e.g. "40m") at ``mount_point``; skip the
    test with the reason where that is impossible (not root, no mount(8), no permission)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    tried = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tenantgate-test",
                            str(mount_point)], capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {tried.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)

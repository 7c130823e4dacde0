"""Tenant files tampered with after configuration, against a real gunicorn (2 workers).

Someone with access to the data root swaps a tenant's directory for a link to another
tenant's, hard-links another tenant's file into its tree, or leaves a FIFO where a
manifest should be. No byte of the other tenant is ever served, nothing is written into
its directories, the validator reports the tamper as a permanent failure, and no thread
hangs.
"""
from __future__ import annotations

import itertools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.security.serving_state import ADMIN, files, wait_upload

pytestmark = pytest.mark.gunicorn

SECRET = "victim-private-4d1c9e"  # in every file of the victim tenant
THREADS = 8  # per worker (running_server's default); 2 workers
_names = itertools.count()


@pytest.fixture(scope="module")
def seeded_env():
    # The chaos hold route holds a tenant's permit while its upload waits (see below); one
    # tenant's 16 concurrent requests take every thread here, the share of threads aside.
    return {"CHAOS_ENABLED": "1", "TENANT_MAX_THREAD_SHARE": "1"}


def write_manifest(data_dir: Path, exam: str, **fields) -> Path:
    path = data_dir / "exams" / exam / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exam_id": exam, **fields}))
    return path


class Pair:
    """A tenant and its victim, each with an exam and a processed upload of its own."""

    def __init__(self, server, root: Path):
        n = next(_names)
        self.server, self.root = server, root
        self.tenant, self.victim = f"tenant-{n}", f"victim-{n}"
        for name in (self.tenant, self.victim):
            assert server.put(f"/admin/tenants/{name}", json={}, headers=ADMIN).status_code == 201
        write_manifest(self.data(self.tenant), "OWN", title="own exam")
        self.secret_manifest = write_manifest(self.data(self.victim), "SECRET", title=SECRET)
        self.own_upload = self.upload(self.tenant, b"own bytes", "own.txt")
        self.secret_upload = self.upload(self.victim, SECRET.encode(), f"{SECRET}.txt")

    def data(self, tenant: str) -> Path:
        return self.root / tenant / "data"

    def uploads(self, tenant: str) -> Path:
        return self.root / tenant / "uploads"

    def upload(self, tenant: str, content: bytes, filename: str) -> str:
        response = self.server.post(f"/t/{tenant}/uploads", files={"file": (filename, content)})
        assert response.status_code == 202, response.text
        assert wait_upload(self.server, response.headers["Location"])["state"] == "done"
        return response.json()["id"]

    def swap_for_link(self, kind: str) -> None:
        """``mv <tenant>/<kind> <kind>.orig; ln -s ../<victim>/<kind> <tenant>/<kind>``."""
        mine = self.root / self.tenant / kind
        mine.rename(mine.with_name(f"{kind}.orig"))
        mine.symlink_to(Path("..") / self.victim / kind, target_is_directory=True)

    def get(self, path: str) -> requests.Response:
        response = self.server.get(path)
        assert SECRET not in response.text, response.text  # never a byte of the victim
        return response

    def recheck(self) -> dict:
        response = self.server.post(f"/admin/tenants/{self.tenant}/recheck", headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.json()["health"]

    def victim_files(self) -> dict:
        return files(self.root / self.victim)


@pytest.fixture
def pair(server, root) -> Pair:
    return Pair(server, root)


def assert_refused_storage(response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] in ("tenant_storage_unavailable", "tenant_unavailable")


def assert_permanently_disabled(pair: Pair, words: str) -> None:
    health = pair.recheck()
    assert health["state"] == "disabled", health
    assert words in health["reason"], health
    assert_refused_storage(pair.get(f"/t/{pair.tenant}/exams"))
    assert_refused_storage(pair.get(f"/t/{pair.tenant}/uploads/{pair.own_upload}"))


def assert_victim_untouched(pair: Pair, before: dict) -> None:
    assert pair.victim_files() == before
    exams = pair.server.get(f"/t/{pair.victim}/exams").json()["exams"]
    assert exams == [{"exam_id": "SECRET", "title": SECRET}]
    assert pair.server.get(f"/t/{pair.victim}/uploads/{pair.secret_upload}").json()["state"] \
        == "done"


# -- a directory swapped for a link -------------------------------------------------------------
def test_a_data_dir_swapped_for_a_link_to_another_tenant_is_never_served(pair):
    own = pair.get(f"/t/{pair.tenant}/exams").json()["exams"]
    assert [exam["exam_id"] for exam in own] == ["OWN"]
    before = pair.victim_files()
    pair.swap_for_link("data")
    for _ in range(2 * THREADS):  # every worker, built or not
        assert_refused_storage(pair.get(f"/t/{pair.tenant}/exams"))
    assert_permanently_disabled(pair, "goes through a link")
    assert_victim_untouched(pair, before)


def test_an_uploads_dir_swapped_for_a_link_to_another_tenant_is_never_served(pair):
    before = pair.victim_files()
    pair.swap_for_link("uploads")
    for _ in range(2 * THREADS):
        # Upload records live in the store: the victim's is not this tenant's upload, and
        # this tenant's own is answered from its record without opening any file.
        assert pair.get(f"/t/{pair.tenant}/uploads/{pair.secret_upload}").status_code == 404
        assert pair.get(f"/t/{pair.tenant}/uploads/{pair.own_upload}").status_code == 200
    posted = pair.server.post(f"/t/{pair.tenant}/uploads", files={"file": ("x.txt", b"new")})
    assert_refused_storage(posted)
    assert_permanently_disabled(pair, "goes through a link")
    assert_victim_untouched(pair, before)


def test_a_parent_of_the_data_dir_swapped_for_a_link_is_refused_too(pair):
    before = pair.victim_files()
    parent = pair.root / pair.tenant
    parent.rename(parent.with_name(f"{pair.tenant}.orig"))
    parent.symlink_to(pair.victim, target_is_directory=True)
    assert_refused_storage(pair.get(f"/t/{pair.tenant}/exams"))
    assert_permanently_disabled(pair, "goes through a link")
    assert_victim_untouched(pair, before)


# -- a hard link to another tenant's file -------------------------------------------------------
def test_a_hard_link_to_another_tenants_manifest_is_listed_as_refused_not_served(pair):
    stolen = pair.data(pair.tenant) / "exams" / "STOLEN" / "manifest.json"
    stolen.parent.mkdir()
    os.link(pair.secret_manifest, stolen)
    before = pair.victim_files()
    exams = pair.get(f"/t/{pair.tenant}/exams").json()["exams"]
    assert exams == [{"exam_id": "OWN", "title": "own exam"},
                     {"exam_id": "STOLEN", "error": "manifest_refused", "reason": "hard_linked"}]
    assert_permanently_disabled(pair, "hard links")
    assert pair.victim_files() == before


def test_a_hard_link_to_another_tenants_upload_is_not_processed_or_served(pair):
    # The tenant's only ocr permit is held, so its next upload waits, queued; meanwhile its
    # file is replaced by a hard link to the victim's. Processing must refuse it: a
    # checksum of the victim's bytes would tell the tenant what the victim uploaded.
    assert pair.server.put(f"/admin/tenants/{pair.tenant}", json={"limits": {"ocr": 1}},
                           headers=ADMIN).status_code == 200
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(pair.server.post, f"/t/{pair.tenant}/chaos/hold/ocr?ms=3000")
        queued = pair.server.post(f"/t/{pair.tenant}/uploads",
                                  files={"file": ("mine.txt", b"mine")})
        assert queued.status_code == 202, queued.text
        stolen = pair.uploads(pair.tenant) / f"{queued.json()['id']}.bin"
        stolen.unlink()
        os.link(pair.uploads(pair.victim) / f"{pair.secret_upload}.bin", stolen)
        assert held.result(15).status_code == 200
    record = wait_upload(pair.server, queued.headers["Location"])
    assert (record["state"], record["error"]) == ("failed", "RefusedFile")
    assert "sha256" not in record
    assert pair.get(f"/t/{pair.tenant}/uploads/{pair.own_upload}").json()["state"] == "done"


def test_a_manifest_linked_to_another_tenants_is_skipped(pair):
    linked = pair.data(pair.tenant) / "exams" / "LINKED" / "manifest.json"
    linked.parent.mkdir()
    linked.symlink_to(pair.secret_manifest)
    exams = pair.get(f"/t/{pair.tenant}/exams").json()["exams"]
    assert exams == [{"exam_id": "OWN", "title": "own exam"}]


# -- not a regular file -------------------------------------------------------------------------
def test_a_fifo_named_manifest_is_listed_as_refused_without_hanging(pair):
    fifo = pair.data(pair.tenant) / "exams" / "FIFO" / "manifest.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    exams = pair.get(f"/t/{pair.tenant}/exams").json()["exams"]
    assert {"exam_id": "FIFO", "error": "manifest_refused", "reason": "not_regular"} in exams
    assert pair.recheck()["state"] == "healthy"  # odd, but no other tenant's file


def test_sixteen_fifo_manifests_do_not_take_every_thread(pair):
    # Each request would have hung for ever on open(); 16 of them held every thread.
    for n in range(16):
        fifo = pair.data(pair.tenant) / "exams" / f"FIFO{n:02d}" / "manifest.json"
        fifo.parent.mkdir()
        os.mkfifo(fifo)
    with ThreadPoolExecutor(2 * THREADS) as pool:
        answers = list(pool.map(lambda _: pair.server.get(f"/t/{pair.tenant}/exams"),
                                range(2 * THREADS)))
    assert [a.status_code for a in answers] == [200] * (2 * THREADS)
    assert all(len(a.json()["exams"]) == 17 for a in answers)
    assert pair.server.get(f"/t/{pair.victim}/exams").status_code == 200
    assert pair.server.get("/healthz").status_code == 200


def test_a_manifest_over_its_size_bound_is_listed_as_refused(pair):
    big = write_manifest(pair.data(pair.tenant), "BIG", pad="x" * (1024 * 1024))
    assert big.stat().st_size > 1024 * 1024
    exams = pair.get(f"/t/{pair.tenant}/exams").json()["exams"]
    assert {"exam_id": "BIG", "error": "manifest_refused", "reason": "too_large"} in exams


def test_a_manifest_nested_too_deep_is_listed_as_invalid(pair):
    path = pair.data(pair.tenant) / "exams" / "DEEP" / "manifest.json"
    path.parent.mkdir()
    path.write_text('{"a": ' * 500 + "{}" + "}" * 500)
    exams = pair.get(f"/t/{pair.tenant}/exams").json()["exams"]
    assert {"exam_id": "DEEP", "error": "invalid_manifest"} in exams

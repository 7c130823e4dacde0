"""TenantDirectory: stored directories opened without following links, regular files only."""
from __future__ import annotations

import os

import pytest

from app.tenants.files import HARD_LINKED, NOT_REGULAR, SYMLINK, TOO_LARGE, RefusedFile, \
    TenantDirectory


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "secret").write_bytes(b"other's bytes")
    return tmp_path


def refusal(call) -> str:
    with pytest.raises(RefusedFile) as refused:
        call()
    return refused.value.reason


def test_a_stored_directory_opens_and_reads_its_regular_files(tree):
    (tree / "mine" / "a.json").write_bytes(b"{}")
    with TenantDirectory.open(tree / "mine") as mine:
        assert mine.names() == ["a.json"]
        assert mine.read("a.json", 10) == b"{}"


@pytest.mark.parametrize("link_at", ["last", "parent"])
def test_a_link_anywhere_on_the_stored_path_is_refused(tree, link_at):
    if link_at == "last":
        (tree / "mine").rename(tree / "mine.orig")
        (tree / "mine").symlink_to(tree / "other", target_is_directory=True)
        path = tree / "mine"
    else:
        (tree / "via").symlink_to(tree, target_is_directory=True)
        path = tree / "via" / "other"
    assert refusal(lambda: TenantDirectory.open(path)) == SYMLINK


def test_files_that_are_not_one_regular_file_within_the_bound_are_refused(tree):
    mine = tree / "mine"
    (mine / "link").symlink_to(tree / "other" / "secret")
    os.link(tree / "other" / "secret", mine / "hard")
    os.mkfifo(mine / "fifo")
    (mine / "big").write_bytes(b"x" * 11)
    with TenantDirectory.open(mine) as directory:
        assert refusal(lambda: directory.read("link", 100)) == SYMLINK
        assert refusal(lambda: directory.read("hard", 100)) == HARD_LINKED
        assert refusal(lambda: directory.read("fifo", 100)) == NOT_REGULAR
        assert refusal(lambda: directory.read("big", 10)) == TOO_LARGE
    (mine / "sub").mkdir()
    with TenantDirectory.open(mine) as directory, pytest.raises(IsADirectoryError):
        directory.open_file("sub")


@pytest.mark.parametrize("name", ["..", ".", "a/b", "", "a\x00b"])
def test_only_plain_names_inside_the_directory(tree, name):
    with TenantDirectory.open(tree / "mine") as mine, pytest.raises(ValueError):
        mine.open_file(name)


def test_writing_never_follows_a_link(tree):
    mine = tree / "mine"
    (mine / "planted").symlink_to(tree / "other" / "secret")
    with TenantDirectory.open(mine) as directory:
        with pytest.raises(FileExistsError):
            directory.create("planted")
        with directory.create("new") as handle:
            handle.write(b"mine")
        directory.replace("new", "planted")  # replaces the link itself
    assert (tree / "other" / "secret").read_bytes() == b"other's bytes"
    assert (mine / "planted").read_bytes() == b"mine" and not (mine / "planted").is_symlink()

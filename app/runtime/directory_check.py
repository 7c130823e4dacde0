"""The built-in validator's checks: a tenant's directories are usable and its own.

Checked as requests use them (app/tenants/files.py): a directory swapped for a link since
it was configured, or a hard-linked file in the exams, is a permanent failure (the
tenant would see another tenant's files through it).
"""
from __future__ import annotations

import os
import stat
import uuid

from ..tenants.files import RefusedFile, TenantDirectory
from .health import PERMANENT, TRANSIENT, ValidationFailure

# Files the validator looks at in the exams; a tenant with more is checked that far.
MAX_EXAM_FILES = 10_000


def check_directories(data_dir: str, uploads_dir: str) -> None:
    """data_dir listable (its exams free of hard links), uploads_dir writable."""
    with checked_directory("data_dir", data_dir) as data:
        check_exams(data)
    with checked_directory("uploads_dir", uploads_dir) as uploads:
        # A name of its own: concurrent validations must not remove each other's probe.
        probe = f".probe-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            uploads.create(probe).close()
            uploads.remove(probe, missing_ok=True)
        except OSError as exc:
            raise ValidationFailure(f"uploads_dir not writable: {exc.strerror}") from None


def checked_directory(name: str, path: str) -> TenantDirectory:
    """The directory, open and listable, or the ValidationFailure saying why not."""
    try:
        directory = TenantDirectory.open(path)
    except RefusedFile:
        raise ValidationFailure(f"{name} {path} goes through a link (it was swapped since "
                                "it was configured)", PERMANENT) from None
    except FileNotFoundError:
        raise ValidationFailure(f"{name} {path} is missing", TRANSIENT) from None
    except NotADirectoryError:
        raise ValidationFailure(f"{name} {path} is not a directory", PERMANENT) from None
    except PermissionError:
        raise ValidationFailure(f"{name} {path} is not readable", TRANSIENT) from None
    try:
        directory.names()
    except PermissionError:
        directory.close()
        raise ValidationFailure(f"{name} {path} is not readable", TRANSIENT) from None
    return directory


def check_exams(data: TenantDirectory) -> None:
    """No file in ``exams/<exam>/`` has a second hard link (bounded: MAX_EXAM_FILES)."""
    try:
        exams = data.subdirectory("exams")
    except (FileNotFoundError, NotADirectoryError, RefusedFile):
        return  # none, or skipped at use (a link is never followed)
    seen = 0
    with exams:
        for exam_name in exams.names():
            try:
                exam = exams.subdirectory(exam_name)
            except (FileNotFoundError, NotADirectoryError, RefusedFile):
                continue
            with exam:
                for file_name in exam.names():
                    seen += 1
                    if seen > MAX_EXAM_FILES:
                        return
                    _check_links(exam, f"exams/{exam_name}/{file_name}", file_name)


def _check_links(exam: TenantDirectory, shown: str, name: str) -> None:
    try:
        info = exam.lstat(name)
    except FileNotFoundError:
        return  # removed meanwhile
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        raise ValidationFailure(f"data_dir {shown} has {info.st_nlink} hard links (it may "
                                "be another tenant's file)", PERMANENT)

"""A folder of tenants (contract sec. 15): ``DIR/<tenant>/tenant.yaml``, and optionally
``routing.yaml`` and ``budgets.yaml`` beside it.

Each tenant folder becomes the body of an admin PUT: tenant.yaml holds the tenant's own
fields, routing.yaml's ``allowed_models`` is ``models.allowed``, budgets.yaml's
``daily_cap_usd`` and ``max_per_request`` are ``budget.daily_cap_usd`` and
``budget.max_per_request_usd``. The admin schema validates the bodies (plan.py); whatever
it finds is named back in the file and field it came from (``locate``). Hidden entries
(``.git``, ``.gitignore``) are skipped; anything else unexpected is a problem, so a typo
such as ``budget.yaml`` is never ignored.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..tenants.ids import is_valid_id
from .yaml_files import YamlProblem, load_file

TENANT_FILE, ROUTING_FILE, BUDGETS_FILE = "tenant.yaml", "routing.yaml", "budgets.yaml"
# For each optional file: its fields, and where each goes in the body (object, field).
FILE_FIELDS = {
    ROUTING_FILE: {"allowed_models": ("models", "allowed")},
    BUDGETS_FILE: {"daily_cap_usd": ("budget", "daily_cap_usd"),
                   "max_per_request": ("budget", "max_per_request_usd")},
}
# Body objects that come from a file of their own, never from tenant.yaml.
OWNED_BY = {"models": ROUTING_FILE, "budget": BUDGETS_FILE}
KNOWN_FILES = (TENANT_FILE, *FILE_FIELDS)
BAD_ID = "not a valid tenant id (a DNS label: a-z, 0-9 and '-', at most 63)"


@dataclass(frozen=True)
class Problem:
    """One problem: in a tenant's folder (``tenant``), one of its files, one field."""

    tenant: str | None
    file: str | None
    field: str | None
    message: str

    def line(self, root: str) -> str:
        where = root if self.tenant is None else os.path.join(
            root, self.tenant, *([self.file] if self.file else []))
        return f"{where}: {self.field}: {self.message}" if self.field \
            else f"{where}: {self.message}"


def locate(tenant: str | None, field: str | None, message: str) -> Problem:
    """A problem found in a tenant's body (``field`` a path such as ``limits.ocr``),
    named in the file and field of a tenant folder it came from."""
    if tenant is None:
        return Problem(None, None, None, message)
    if field is None:
        return Problem(tenant, None, None, message)
    head, _, rest = field.partition(".")
    owner = OWNED_BY.get(head.partition("[")[0])
    if owner is None:
        return Problem(tenant, TENANT_FILE, field, message)
    for name, (_, inner) in FILE_FIELDS[owner].items():
        if rest == inner or rest.startswith((inner + "[", inner + ".")):
            return Problem(tenant, owner, name + rest[len(inner):], message)
    return Problem(tenant, owner, rest or None, message)


def read_tree(root: Path) -> tuple[dict[str, dict], list[Problem]]:
    """Every tenant folder's body, and every problem found reading them."""
    if not root.is_dir():
        return {}, [Problem(None, None, None, "not a directory")]
    bodies: dict[str, dict] = {}
    problems: list[Problem] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith("."):
            continue
        if not entry.is_dir():
            problems.append(Problem(name, None, None, "not a tenant folder (expected "
                                    f"{name}/{TENANT_FILE})"))
        elif not is_valid_id(name):
            problems.append(Problem(name, None, None, BAD_ID))
        else:
            body, found = read_folder(entry)
            bodies[name] = body
            problems.extend(found)
    if not bodies and not problems:
        problems.append(Problem(None, None, None, "holds no tenant folder"))
    return bodies, problems


def read_folder(folder: Path) -> tuple[dict, list[Problem]]:
    """One tenant's body from its folder, and the problems found in its files."""
    tenant = folder.name
    problems = [Problem(tenant, entry.name, None, "unknown file (a tenant folder holds "
                        f"{', '.join(KNOWN_FILES)})")
                for entry in sorted(folder.iterdir(), key=lambda p: p.name)
                if not entry.name.startswith(".") and entry.name not in KNOWN_FILES]
    if not (folder / TENANT_FILE).exists():
        return {}, problems + [Problem(tenant, TENANT_FILE, None, "missing")]
    body: dict[str, Any] = {}
    for name in KNOWN_FILES:
        path = folder / name
        if name != TENANT_FILE and not path.exists():
            continue
        try:
            content = _mapping_in(path)
        except YamlProblem as problem:
            problems.append(Problem(tenant, name, problem.field, problem.message))
            continue
        problems.extend(_merge(tenant, name, content, body))
    return body, problems


def _mapping_in(path: Path) -> dict:
    content = load_file(path)
    if content is None:
        return {}  # an empty file: every field at its default
    if not isinstance(content, dict):
        raise YamlProblem("must be a mapping of field: value")
    return content


def _merge(tenant: str, name: str, content: dict, body: dict) -> list[Problem]:
    """Put one file's fields into the body; the problems of fields it may not hold."""
    problems = []
    if name == TENANT_FILE:
        for field, value in content.items():
            if field in OWNED_BY:
                problems.append(Problem(tenant, name, field,
                                        f"belongs in {OWNED_BY[field]}, not here"))
            else:
                body[field] = value
        return problems
    fields = FILE_FIELDS[name]
    for field, value in content.items():
        if field not in fields:
            problems.append(Problem(tenant, name, field,
                                    f"unknown field (known: {', '.join(fields)})"))
            continue
        target, inner = fields[field]
        body.setdefault(target, {})[inner] = value
    return problems

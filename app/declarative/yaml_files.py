"""Reading one YAML file of a tenant folder: safe, strict, and JSON-shaped.

PyYAML's safe loader builds no objects, but would still take a repeated key silently
(the last wins), expand aliases (a few lines of ``*a`` become gigabytes once serialised)
and give dates, sets and NaN that JSON cannot hold. Each of these is a problem naming
the file, the line or the field, never a guess.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 64


class YamlProblem(Exception):
    """The file cannot be read as the JSON-shaped YAML a tenant folder holds."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases and repeated keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(None, None, "aliases (*name) are not allowed",
                                event.start_mark)
        return super().compose_node(parent, index)


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            repeated = key in seen
        except TypeError:
            continue  # unhashable: construct_mapping below says so
        if repeated:
            raise ConstructorError(None, None, f"repeated key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_file(path: Path) -> Any:
    """The file's content (None when empty); raises YamlProblem."""
    try:
        if not path.is_file():
            raise YamlProblem("not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlProblem(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlProblem(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise YamlProblem("not UTF-8 text") from None
    try:
        value = yaml.load(text, Loader=_StrictLoader)  # a safe loader: builds no objects
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(_marked(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem("invalid YAML: nested too deeply") from None
    check_json_shape(value)
    return value


def _marked(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"invalid YAML{where}: {exc.problem or exc.context}"


def check_json_shape(value: Any, path: str = "", depth: int = 0) -> None:
    """Raise YamlProblem unless ``value`` is what JSON can hold (string keys, finite
    numbers); ``path`` names the field of the first offending value."""
    if depth > MAX_DEPTH:
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", path or None)
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise YamlProblem("not a finite number", path or None)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_json_shape(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise YamlProblem(f"key {key!r} is not a string (quote it)", path or None)
            check_json_shape(item, f"{path}.{key}" if path else key, depth + 1)
        return
    kind = type(value).__name__
    raise YamlProblem(f"a {kind} is not JSON (quote it to make it a string)", path or None)

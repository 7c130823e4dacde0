"""A gauge or counter family whose samples share their label names, kept as rows.

A scrape with 1,000 tenants renders about 16,000 tenant samples. Built as
``GaugeMetricFamily`` samples, each costs a dict and a ``Sample``, and then the renderer
looks at each one again (its label names, its order, its name). Here a family keeps
``(label values, value)`` rows and renders them to text in one pass with one line
template; ``samples`` are made only when asked for (``generate_latest``, tests), and are
exactly those ``add_metric`` would have made, so the text is what ``generate_latest``
renders from them.
"""
from __future__ import annotations

import math
import re
from itertools import chain
from operator import itemgetter
from typing import Iterable, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

LEGACY_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LEGACY_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
NEEDS_ESCAPE = re.compile(r'[\\\n"]')
_INFINITIES = (math.inf, -math.inf)


def escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def value_text(value) -> str:
    """floatToGoString, without its calls for the common case (finite, below 10^6)."""
    number = float(value)
    text = repr(number)
    if number != number or number in _INFINITIES or (number > 0 and text.find(".") > 6):
        return floatToGoString(number)
    return text


class TextFamily(Metric):
    """``GaugeMetricFamily(name, doc, labels=...)`` or ``CounterMetricFamily`` (``typ``
    "counter": the name loses a ``_total`` suffix, the samples get it), filled with
    ``add(values, value)`` instead of ``add_metric``."""

    def __init__(self, name: str, documentation: str, typ: str, labels: Sequence[str]):
        if typ == "counter" and name.endswith("_total"):
            name = name[:-6]
        super().__init__(name, documentation, typ)
        self._labels = tuple(labels)
        self._sample_name = name + "_total" if typ == "counter" else name
        self._rows: list[tuple[tuple[str, ...], float]] = []
        # What was made of the rows, with how many rows there were then.
        self._made: tuple[int, list[Sample]] = (0, [])
        self._text: tuple[int, str] | None = None

    def add(self, values: tuple[str, ...], value: float) -> None:
        """``add_metric(list(values), value)``; ``values`` a tuple, in the order of the
        label names given."""
        self._rows.append((values, value))

    def extend(self, rows: Iterable[tuple[tuple[str, ...], float]]) -> None:
        """``add`` of each (values, value): one call for a whole family."""
        self._rows.extend(rows)

    @property
    def samples(self) -> list[Sample]:
        if self._made[0] != len(self._rows):
            name, labels = self._sample_name, self._labels
            self._made = (len(self._rows),
                          [Sample(name, dict(zip(labels, values)), value, None, None)
                           for values, value in self._rows])
        return self._made[1]

    @samples.setter
    def samples(self, made: list[Sample]) -> None:
        # Metric.__init__ starts every family with no samples; rows are the samples here.
        if made:
            raise ValueError("a TextFamily is filled with add()")

    def text(self) -> str | None:
        """Its exposition text, as ``generate_latest`` renders it; None when that needs
        generate_latest itself (a name outside the legacy character set)."""
        if self._text is None or self._text[0] != len(self._rows):
            self._text = (len(self._rows), self._render())
        return self._text[1] or None

    def _render(self) -> str:
        labels, name = self._labels, self._sample_name
        if not LEGACY_METRIC.fullmatch(name) or len(set(labels)) != len(labels) \
                or not all(LEGACY_LABEL.fullmatch(label) for label in labels):
            return ""
        exposed = self.name + ("_total" if self.type == "counter" else "")
        documentation = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        head = f"# HELP {exposed} {documentation}\n# TYPE {exposed} {self.type}\n"
        rows = self._rows
        if NEEDS_ESCAPE.search("".join(chain.from_iterable(map(itemgetter(0), rows)))):
            rows = [(tuple(escape_label(v) for v in values), value) for values, value in rows]
        return head + "".join(_lines(name, labels, rows))


def _lines(name: str, labels: tuple[str, ...], rows) -> list[str]:
    """One line a row; labels sorted by name, as generate_latest writes them. One and two
    labels (nearly every tenant series) are built with f-strings, several times faster
    than a format template."""
    shown = _Shown()
    texts = [shown[v if type(v) is not float or v else repr(v)] for _, v in rows]
    if not labels:
        return [f"{name} {text}\n" for text in texts]
    order = sorted(range(len(labels)), key=labels.__getitem__)
    parts = [f'{name}{{{labels[order[0]]}="'] + [f'",{labels[i]}="' for i in order[1:]]
    if len(labels) == 1:
        start, end = parts[0], '"} '
        return [f"{start}{a}{end}{text}\n" for ((a,), _), text in zip(rows, texts)]
    if len(labels) == 2:
        start, middle, end = parts[0], parts[1], '"} '
        if order == [0, 1]:
            return [f"{start}{a}{middle}{b}{end}{text}\n"
                    for ((a, b), _), text in zip(rows, texts)]
        return [f"{start}{b}{middle}{a}{end}{text}\n" for ((a, b), _), text in zip(rows, texts)]
    template = "".join(part.replace("{", "{{") + "{" + str(i) + "}"
                       for part, i in zip(parts, order)) + '"}} {' + str(len(labels)) + "}\n"
    return [template.format(*values, text) for (values, _), text in zip(rows, texts)]


class _Shown(dict):
    """Values as text, each distinct value formatted once (most are 0, 1 or a few counts).
    Keys are the numbers (1 and 1.0 show alike), but a float zero is keyed by its repr:
    0.0 == -0.0, and they show differently."""

    def __missing__(self, key) -> str:
        text = self[key] = key if type(key) is str else value_text(key)
        return text

"""Read the metric names out of PromQL expressions (alert rules, dashboard queries).

Not a PromQL parser: it blanks what cannot hold a metric name (strings, label
matchers, range and subquery brackets, the label lists of by/without/on/ignoring/
group_left/group_right), then keeps every identifier that is not a function call
(a name followed by "("), a keyword, an aggregation operator or part of a number
or duration.
"""
from __future__ import annotations

import re

KEYWORDS = frozenset({
    # aggregation operators (also written "sum by (x) (...)", so not always before "(")
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    # binary operators and modifiers
    "and", "or", "unless", "atan2", "by", "without", "on", "ignoring",
    "group_left", "group_right", "bool", "offset",
    # number literals
    "inf", "nan",
})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:])(\s*\()?")
# Grafana's label_values(<series selector>, <label>): only the first argument is PromQL.
_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((?P<selector>.*),\s*\w+\s*\)\s*$", re.S)
_GRAFANA_VARIABLE = re.compile(r"\$(?:\{\w+(?::\w+)?\}|\w+)|\[\[\w+\]\]")


def metric_names(expr: str) -> set[str]:
    """Every metric (or recording rule) name that ``expr`` selects."""
    names = set(_NAME_MATCHER.findall(expr))
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = _LABEL_LIST.sub(r"\1 ", text)
    for match in _IDENTIFIER.finditer(text):
        name, call = match.groups()
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def grafana_query(query: str) -> str | None:
    """The PromQL inside a Grafana query or variable query, or None if it holds none."""
    match = _LABEL_VALUES.match(query)
    if match:
        return match["selector"]
    if re.match(r"^\s*label_values\s*\(\s*\w+\s*\)\s*$", query):
        return None  # label_values(label): no series selector
    return query


def as_plain_promql(query: str) -> str:
    """A Grafana query with its variables replaced, so promtool can parse it."""
    query = re.sub(r"\$__\w+", "5m", query)  # $__rate_interval, $__interval, $__range
    return _GRAFANA_VARIABLE.sub(".*", query)
